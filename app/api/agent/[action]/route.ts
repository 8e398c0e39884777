import { z } from "zod";
import { agentView } from "@/lib/agent";
import { notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { reenableAgent, revokeAgent } from "@/lib/kill-switch";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { guardAgentControl, runningAgent } from "../control";

export const dynamic = "force-dynamic";

const Action = z.enum(["pause", "resume", "revoke", "reenable"]);

/**
 * POST /api/agent/pause — no price checks, proposals or approval polling until resumed.
 * POST /api/agent/resume — the agent watches again; a stored approval request is polled again.
 * POST /api/agent/revoke — the kill switch (lib/kill-switch): the agent's tokens are refused at
 *   /mcp, its loop stops, its pending approvals are cancelled, the authorization server withdraws
 *   its grants. A replayed revoke answers the same and changes nothing.
 * POST /api/agent/reenable — fresh credentials for a revoked agent; 409 agent_not_revoked if it
 *   never was.
 * POST only (Next answers other methods with 405); the body must be empty or `{}`; a foreign
 * Origin is refused. /api/agent/mandate is its own route.
 */
export async function POST(request: Request, context: { params: Promise<{ action: string }> }): Promise<Response> {
  // Requests with a body skip proxy.ts: the same Host check, first (lib/net/allowed-hosts.ts).
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const action = Action.safeParse((await context.params).action);
    if (!action.success) throw notFound("Unknown agent action.");
    const rt = await getRuntime();
    switch (action.data) {
      case "pause":
      case "resume": {
        const agent = await runningAgent(request, rt, { emptyBody: true });
        await (action.data === "pause" ? agent.pause() : agent.resume());
        break;
      }
      case "revoke":
        await guardAgentControl(request, rt, { emptyBody: true });
        await revokeAgent(rt);
        break;
      case "reenable":
        await guardAgentControl(request, rt, { emptyBody: true });
        await reenableAgent(rt);
        break;
    }
    return json(await agentView(rt));
  } catch (error) {
    return errorResponse(error);
  }
}
