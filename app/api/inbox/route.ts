import { errorResponse, json } from "@/lib/http";
import { countUnread, listMail } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/inbox — her mail in the embedded mailbox, newest first, with the unread count; her session. */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const { investor } = await requireInvestor(request, rt.signIn);
    const [messages, unread] = await Promise.all([listMail(rt.db, 100, investor.email), countUnread(rt.db, investor.email)]);
    return json({ unread, messages });
  } catch (error) {
    return errorResponse(error);
  }
}
