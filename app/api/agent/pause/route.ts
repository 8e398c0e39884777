import { agentView } from "@/lib/agent";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { runningAgent } from "../control";

export const dynamic = "force-dynamic";

/** POST /api/agent/pause — no price checks, proposals or approval polling until resumed. */
export async function POST(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const agent = await runningAgent(request, rt, { emptyBody: true });
    await agent.pause();
    return json(await agentView(rt));
  } catch (error) {
    return errorResponse(error);
  }
}
