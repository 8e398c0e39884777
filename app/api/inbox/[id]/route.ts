import { AppError } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { getMail } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

const MAIL_ID = /^msg_[A-Za-z0-9_-]{8,40}$/;

/** GET /api/inbox/{id} — one message (text, HTML and its named links). Reading it here does not mark it read. */
export async function GET(_request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  try {
    const { id } = await params;
    if (!MAIL_ID.test(id)) throw new AppError("invalid_request", 400, "That is not a message id.");
    const mail = await getMail((await getRuntime()).db, id);
    if (!mail) throw new AppError("not_found", 404, "No such message.");
    return json(mail);
  } catch (error) {
    return errorResponse(error);
  }
}
