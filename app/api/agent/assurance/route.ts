import { runningAssurance } from "@/lib/assurance/running";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/agent/assurance — which guarantees bind a trade to Alice's approval here, and why (her session). */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const { investor } = await requireInvestor(request, rt.signIn);
    return json(await runningAssurance(rt.scopeOf(investor)));
  } catch (error) {
    return errorResponse(error);
  }
}
