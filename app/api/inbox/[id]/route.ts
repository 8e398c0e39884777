import { invalidRequest, notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { getMail, MAIL_ID_PATTERN } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/inbox/{id} — one of her messages (text, HTML and its named links). Reading it here does not mark it read. Her session. */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  try {
    const rt = await getRuntime();
    const { investor } = await requireInvestor(request, rt.signIn);
    const { id } = await params;
    if (!MAIL_ID_PATTERN.test(id)) throw invalidRequest("That is not a message id.");
    const mail = await getMail(rt.db, id, investor.email);
    if (!mail) throw notFound("No such message.");
    return json(mail);
  } catch (error) {
    return errorResponse(error);
  }
}
