import { invalidRequest, notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { readSequence } from "@/lib/sequence/read";
import { requireInvestor } from "@/lib/session/guard";
import { parseSequenceQuery } from "./schema";

export const dynamic = "force-dynamic";

/**
 * GET /api/sequence[?order=ord_…] — the investor's recent orders and the message sequence of one
 * approval flow (the newest order's when none is named): the parties as lanes, each message
 * decoded, never a token. Her session (401 login_required); 400 invalid_request for a malformed
 * query, 404 not_found for an order that is not hers.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const session = await requireInvestor(request, rt.signIn);
    const query = parseSequenceQuery(new URL(request.url));
    if (!query.ok) throw invalidRequest(query.message);
    // The signed-in investor's orders, and nobody else's.
    const userSub = session.sub;
    const result = await readSequence(rt.db, {
      userSub,
      orderId: query.value.order,
      names: { agentId: rt.config.agent.id, agentName: rt.config.agent.name, investorName: session.investor.name },
    });
    if (!result) throw notFound("No such order.");
    return json(result);
  } catch (error) {
    return errorResponse(error);
  }
}
