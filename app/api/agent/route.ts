import { agentView } from "@/lib/agent";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/** GET /api/agent — the agent's state, pending approval and decoded token claims (never tokens). */
export async function GET(): Promise<Response> {
  try {
    return json(await agentView(await getRuntime()));
  } catch (error) {
    return errorResponse(error);
  }
}
