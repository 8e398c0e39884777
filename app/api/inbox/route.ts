import { errorResponse, json } from "@/lib/http";
import { countUnread, listMail } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/inbox — the embedded mailbox, newest first, with the unread count; her session. */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    await requireInvestor(request, rt.signIn);
    const [messages, unread] = await Promise.all([listMail(rt.db), countUnread(rt.db)]);
    return json({ unread, messages });
  } catch (error) {
    return errorResponse(error);
  }
}
