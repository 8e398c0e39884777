import { agentControls } from "@/lib/agent/control";
import { holdsKillSwitch } from "@/lib/config";
import { ProtocolError } from "@/lib/errors";
import { readEmptyBody } from "@/lib/http";
import { requireInvestorWrite } from "@/lib/session/guard";
import type { InvestorScope, Runtime } from "@/lib/runtime";

/**
 * The shared guard of every agent POST route (pause, resume, mandate, revoke, re-enable): an
 * investor's session, her own origin, and an empty body where the action takes none. Every write
 * to an agent passes here first, so a requirement added here covers them all. The answer is her
 * side of the app: her agent, whoever the request names.
 */
export async function guardAgentControl(request: Request, rt: Runtime, options: { emptyBody: boolean }): Promise<InvestorScope> {
  const { investor } = await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl);
  if (options.emptyBody) await readEmptyBody(request);
  return rt.scopeOf(investor);
}

/**
 * The kill switch revokes the agent's client, which acts for every investor: only the first
 * investor (INVESTOR_USER_ID, who registered it) may pull it. Another investor pauses her own agent.
 */
export function assertAgentOwner(rt: Runtime, me: InvestorScope): void {
  if (!holdsKillSwitch(me.config)) {
    throw new ProtocolError("forbidden", `Only ${rt.config.investor.name}, who registered ${rt.config.agent.name}, can revoke or re-enable it; pause your own agent instead.`, { status: 403 });
  }
}

/**
 * The guard, and the controls of an enabled, not revoked agent. The agent may run on another
 * instance: the controls reach it through the store and the event relay (lib/agent/control.ts).
 */
export async function runningAgent(request: Request, rt: Runtime, options: { emptyBody: boolean }) {
  const me = await guardAgentControl(request, rt, options);
  if (!rt.config.agent.enabled) throw new ProtocolError("agent_not_running", "The agent is not enabled (AGENT_ENABLED=false).", { status: 409 });
  if (me.agent?.revoked) throw new ProtocolError("agent_revoked", `${rt.config.agent.name}'s access is revoked; re-enable it first.`, { status: 409 });
  return { me, controls: agentControls(me) };
}
