import { z } from "zod";
import { agentView } from "@/lib/agent";
import { notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { reenableAgent, revokeAgent } from "@/lib/kill-switch";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import type { InvestorScope } from "@/lib/runtime";
import { assertAgentOwner, guardAgentControl, runningAgent } from "../control";

export const dynamic = "force-dynamic";

const Action = z.enum(["pause", "resume", "revoke", "reenable"]);

/**
 * The signed-in investor's agent:
 * POST /api/agent/pause — no price checks, proposals or approval polling until resumed.
 * POST /api/agent/resume — the agent watches again; a stored approval request is polled again.
 * POST /api/agent/revoke — the kill switch (lib/kill-switch): the agent's tokens are refused at
 *   /mcp, its loop stops, its pending approvals are cancelled, the authorization server withdraws
 *   its grants. A replayed revoke answers the same and changes nothing. The agent's client acts
 *   for every investor: only the first investor may revoke or re-enable it (403 forbidden).
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
    let me: InvestorScope;
    switch (action.data) {
      case "pause":
      case "resume": {
        const running = await runningAgent(request, rt, { emptyBody: true });
        me = running.me;
        await (action.data === "pause" ? running.controls.pause() : running.controls.resume());
        break;
      }
      case "revoke":
        me = await guardAgentControl(request, rt, { emptyBody: true });
        assertAgentOwner(rt, me);
        await revokeAgent(rt);
        break;
      case "reenable":
        me = await guardAgentControl(request, rt, { emptyBody: true });
        assertAgentOwner(rt, me);
        await reenableAgent(rt);
        break;
    }
    return json(await agentView(me));
  } catch (error) {
    return errorResponse(error);
  }
}
