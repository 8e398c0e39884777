import "server-only";
import type { AppConfig } from "../config";
import type { ActivityLog } from "../events/activity";
import type { AgentCommand, EventBus } from "../events/bus";
import type { Db } from "../store/db";
import type { Agent } from "./agent";
import { mandatedLine, pausedLine, resumedLine } from "./control-lines";
import { cancelOpenWork, peekAgentRow } from "./repository";
import { agentKey, writeMandate, writePaused } from "./settings";

/**
 * An investor's controls of her agent, taken on whichever instance she reaches. `config` is seen
 * from her side (lib/config.ts configFor) and `activity` is her log; `agent` is her agent when
 * this instance runs it. The instance that runs
 * the agent applies them at once. Any other stores the setting and its activity line, then tells
 * the running instance through the bus (the relay carries it there): the store stays the one
 * truth, and an agent that starts later reads the same settings.
 */
export interface AgentControls {
  pause(): Promise<void>;
  resume(): Promise<void>;
  updateMandate(m: { thresholdCents: number; budgetCents: number }): Promise<unknown>;
  /** Demo reset: open orders and approvals are cancelled, the agent watches again. */
  reset(): Promise<void>;
}

export interface ControlDeps {
  config: AppConfig;
  db: Db;
  bus: EventBus;
  activity: ActivityLog;
  agent?: Agent;
}

/**
 * Tells the instance that runs the agent to apply what this one stored: a control, the kill
 * switch's revocation or re-enable, a standing mandate to ask for or to forget. The relay carries
 * it there (an instance without the agent's lease ignores it). `config` is seen from the investor's
 * side (lib/config.ts configFor), so the message names her agent (agentKey).
 */
export function tellAgentOwner(deps: { config: AppConfig; bus: EventBus }, command: AgentCommand, mandateId?: string): void {
  deps.bus.publish("agent-control", { agentId: agentKey(deps.config), command, ...(mandateId ? { mandateId } : {}) });
}

export function agentControls(deps: ControlDeps): AgentControls {
  return deps.agent ?? forwardedControls(deps);
}

function forwardedControls({ config, db, bus, activity }: ControlDeps): AgentControls {
  const tell = (command: AgentCommand) => {
    tellAgentOwner({ config, bus }, command);
    bus.publish("agent", { reason: command, userSub: config.investor.userId });
  };
  return {
    async pause() {
      await writePaused(db, config, true);
      await activity.add({ level: "warn", kind: "agent.paused", message: pausedLine(config) });
      tell("pause");
    },
    async resume() {
      await writePaused(db, config, false);
      const row = await peekAgentRow(db, agentKey(config));
      await activity.add({ level: "info", kind: "agent.resumed", message: resumedLine(config, row.state) });
      tell("resume");
    },
    async updateMandate(m) {
      await writeMandate(db, config, m);
      await activity.add({ level: "info", kind: "agent.mandate", message: mandatedLine(config, m) });
      tell("mandate");
    },
    async reset() {
      // What the store holds is cancelled here; the running agent drops its work and state.
      await cancelOpenWork(db, "cancelled by a demo reset", config.investor.userId);
      tell("reset");
    },
  };
}
