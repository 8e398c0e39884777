import { agentView } from "@/lib/agent";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/agent — the signed-in investor's agent: its state, pending approval and decoded token claims (never tokens); her session. */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const { investor } = await requireInvestor(request, rt.signIn);
    return json(await agentView(rt.scopeOf(investor)));
  } catch (error) {
    return errorResponse(error);
  }
}
