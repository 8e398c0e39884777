import { invalidRequest, notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { getMail, MAIL_ID_PATTERN } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/** GET /api/inbox/{id} — one message (text, HTML and its named links). Reading it here does not mark it read. */
export async function GET(_request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  try {
    const { id } = await params;
    if (!MAIL_ID_PATTERN.test(id)) throw invalidRequest("That is not a message id.");
    const mail = await getMail((await getRuntime()).db, id);
    if (!mail) throw notFound("No such message.");
    return json(mail);
  } catch (error) {
    return errorResponse(error);
  }
}
