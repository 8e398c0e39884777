import { errorResponse, json } from "@/lib/http";
import { countUnread, listMail } from "@/lib/idp/mailbox";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/** GET /api/inbox — the embedded mailbox, newest first, with the unread count. */
export async function GET(): Promise<Response> {
  try {
    const rt = await getRuntime();
    const [messages, unread] = await Promise.all([listMail(rt.db), countUnread(rt.db)]);
    return json({ unread, messages });
  } catch (error) {
    return errorResponse(error);
  }
}
