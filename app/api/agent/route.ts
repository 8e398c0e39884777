import { agentView } from "@/lib/agent";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/agent — the agent's state, pending approval and decoded token claims (never tokens); her session. */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    await requireInvestor(request, rt.signIn);
    return json(await agentView(rt));
  } catch (error) {
    return errorResponse(error);
  }
}
