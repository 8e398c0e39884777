import { agentView } from "@/lib/agent";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { runningAgent } from "../control";

export const dynamic = "force-dynamic";

/** POST /api/agent/resume — the agent watches again; a stored approval request is polled again. */
export async function POST(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const agent = await runningAgent(request, rt, { emptyBody: true });
    await agent.resume();
    return json(await agentView(rt));
  } catch (error) {
    return errorResponse(error);
  }
}
