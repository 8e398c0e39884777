import "server-only";
import type { AppConfig } from "../config";
import type { Db } from "../store/db";
import { Agent, type AgentDeps } from "./agent";
import { peekAgentRow } from "./repository";
import { readMandate, readPaused } from "./settings";
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

/** The agent's view for the API, also when the loop is not running in this process. */
export async function agentView(rt: { agent?: Agent; db: Db; config: AppConfig }): Promise<AgentView> {
  if (rt.agent) return rt.agent.view();
  const [row, paused, mandate] = await Promise.all([peekAgentRow(rt.db, rt.config.agent.id), readPaused(rt.db), readMandate(rt.db, rt.config)]);
  return buildView({ db: rt.db, config: rt.config, row, mandate, paused, running: false, model: null, now: new Date() });
}
