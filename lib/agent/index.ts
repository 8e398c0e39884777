import "server-only";
import type { AppConfig } from "../config";
import type { Db } from "../store/db";
import { agentLease, type Leases } from "../store/leases";
import { Agent, type AgentDeps } from "./agent";
import { peekAgentRow } from "./repository";
import { agentKey, readMandate, readPaused } from "./settings";
import type { AgentView } from "./view";
import { buildView } from "./view-model";

export { Agent } from "./agent";
export type { AgentView } from "./view";

/** Starts the agent loop; its first HTTP calls retry until the server answers. */
export async function startAgent(deps: AgentDeps): Promise<Agent> {
  const agent = new Agent(deps);
  await agent.start();
  return agent;
}

/**
 * One investor's agent's view for the API, also when the loop runs on another instance (or
 * nowhere): then it is read from the store, and `owner` names the instance holding the agent's
 * lease. `config` is seen from her side (lib/config.ts configFor); `agent` is hers when it runs here.
 */
export async function agentView(rt: { agent?: Agent; db: Db; config: AppConfig; leases?: Leases }): Promise<AgentView> {
  if (rt.agent) return { ...(await rt.agent.view()), owner: rt.leases?.instanceId ?? null };
  const [row, paused, mandate, owner] = await Promise.all([
    peekAgentRow(rt.db, agentKey(rt.config)),
    readPaused(rt.db, rt.config),
    readMandate(rt.db, rt.config),
    rt.leases?.holderOf(agentLease(rt.config.investor.userId, rt.config.agent.id)).catch(() => undefined),
  ]);
  const view = await buildView({ db: rt.db, config: rt.config, row, mandate, paused, running: owner !== undefined, model: null, now: new Date() });
  return { ...view, owner: owner ?? null };
}
