import { agentControls } from "@/lib/agent/control";
import { ProtocolError } from "@/lib/errors";
import { readEmptyBody } from "@/lib/http";
import { requireInvestorWrite } from "@/lib/session/guard";
import type { Runtime } from "@/lib/runtime";

/**
 * The shared guard of every agent POST route (pause, resume, mandate, revoke, re-enable): Alice's
 * session, her own origin, and an empty body where the action takes none. Every write to her
 * agent passes here first, so a requirement added here covers them all.
 */
export async function guardAgentControl(request: Request, rt: Runtime, options: { emptyBody: boolean }): Promise<void> {
  await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl);
  if (options.emptyBody) await readEmptyBody(request);
}

/**
 * The guard, and the controls of an enabled, not revoked agent. The agent may run on another
 * instance: the controls reach it through the store and the event relay (lib/agent/control.ts).
 */
export async function runningAgent(request: Request, rt: Runtime, options: { emptyBody: boolean }) {
  await guardAgentControl(request, rt, options);
  if (!rt.config.agent.enabled) throw new ProtocolError("agent_not_running", "The agent is not enabled (AGENT_ENABLED=false).", { status: 409 });
  if (rt.agent?.revoked) throw new ProtocolError("agent_revoked", `${rt.config.agent.name}'s access is revoked; re-enable it first.`, { status: 409 });
  return agentControls(rt);
}
