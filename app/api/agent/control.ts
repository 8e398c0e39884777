import { agentControls } from "@/lib/agent/control";
import { ProtocolError } from "@/lib/errors";
import { assertSameOrigin, readEmptyBody } from "@/lib/http";
import type { Runtime } from "@/lib/runtime";

/**
 * Shared guard of the agent's POST routes: same origin, and an agent to act on. The agent may run
 * on another instance: the controls reach it through the store and the event relay.
 */
export async function runningAgent(request: Request, rt: Runtime, options: { emptyBody: boolean }) {
  assertSameOrigin(request, rt.config.publicUrl);
  if (options.emptyBody) await readEmptyBody(request);
  if (!rt.config.agent.enabled) throw new ProtocolError("agent_not_running", "The agent is not enabled (AGENT_ENABLED=false).", { status: 409 });
  return agentControls(rt);
}
