import { MandateUpdate } from "@/lib/agent/mandate";
import { agentView } from "@/lib/agent";
import { invalidRequest } from "@/lib/errors";
import { errorResponse, json, readJsonBody } from "@/lib/http";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { runningAgent } from "../control";

export const dynamic = "force-dynamic";

const NOT_JSON = 'The request body must be JSON like {"threshold":"140.00","budget":"5000.00"}.';

/**
 * POST /api/agent/mandate {threshold: "140.00", budget: "5000.00"} — the signed-in investor's mandate. Amounts are
 * decimal strings (lib/money parseMoney); anything else is a 400 and changes nothing.
 */
export async function POST(request: Request): Promise<Response> {
  // Requests with a body skip proxy.ts: the same Host check, first (lib/net/allowed-hosts.ts).
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const rt = await getRuntime();
    const { me, controls } = await runningAgent(request, rt, { emptyBody: false });
    const input = MandateUpdate.safeParse(await readJsonBody(request, { notJson: NOT_JSON }));
    if (!input.success) throw invalidRequest(input.error.issues.map((i) => i.message).join("; "));
    await controls.updateMandate({ thresholdCents: input.data.threshold, budgetCents: input.data.budget });
    return json(await agentView(me));
  } catch (error) {
    return errorResponse(error);
  }
}
