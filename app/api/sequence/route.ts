import { invalidRequest, notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { readSequence } from "@/lib/sequence/read";
import { parseSequenceQuery } from "./schema";

export const dynamic = "force-dynamic";

/**
 * GET /api/sequence[?order=ord_…] — the investor's recent orders and the message sequence of one
 * approval flow (the newest order's when none is named): the parties as lanes, each message
 * decoded, never a token. 400 invalid_request for a malformed query, 404 not_found for an order
 * the investor does not have.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const query = parseSequenceQuery(new URL(request.url));
    if (!query.ok) throw invalidRequest(query.message);
    const rt = await getRuntime();
    // The investor whose orders are shown; a signed-in session will name them here.
    const userSub = rt.config.investor.userId;
    const result = await readSequence(rt.db, {
      userSub,
      orderId: query.value.order,
      names: { agentId: rt.config.agent.id, agentName: rt.config.agent.name, investorName: rt.config.investor.name },
    });
    if (!result) throw notFound("No such order.");
    return json(result);
  } catch (error) {
    return errorResponse(error);
  }
}
