import "server-only";
import type { AppConfig } from "../config";
import type { ActivityLog } from "../events/activity";
import type { AgentCommand, EventBus } from "../events/bus";
import { queueAgentCommand } from "../store/agent-commands";
import type { Db, Queryable } from "../store/db";
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
  /** Demo reset: open orders and approvals are cancelled, the agent watches again; `marketAt` is the market's reset tick. */
  reset(marketAt?: string): Promise<void>;
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
 * switch's revocation or re-enable, a standing mandate to ask for or to forget. The control is a
 * row (lib/store/agent-commands.ts); `store`, when given, writes the control's setting in the same
 * transaction, so that the setting and the control are stored together. The NOTIFY after the
 * commit only wakes the owner, which also looks for rows every few seconds. `config` is seen from
 * the investor's side (lib/config.ts configFor), so the row names her agent (agentKey).
 */
export async function tellAgentOwner(
  deps: { config: AppConfig; db: Db; bus: EventBus },
  command: AgentCommand,
  options: { mandateId?: string; store?: (tx: Queryable) => Promise<void> } = {},
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await options.store?.(tx);
    await queueAgentCommand(tx, agentKey(deps.config), command, options.mandateId);
  });
  deps.bus.publish("agent-control", { agentId: agentKey(deps.config), command });
}

export function agentControls(deps: ControlDeps): AgentControls {
  return deps.agent ?? forwardedControls(deps);
}

function forwardedControls({ config, db, bus, activity }: ControlDeps): AgentControls {
  /** `store` writes the setting; the control is stored in the same transaction. */
  const tell = async (command: AgentCommand, store: (tx: Queryable) => Promise<void>) => {
    await tellAgentOwner({ config, db, bus }, command, { store });
    bus.publish("agent", { reason: command, userSub: config.investor.userId });
  };
  return {
    async pause() {
      await tell("pause", (tx) => writePaused(tx, config, true));
      await activity.add({ level: "warn", kind: "agent.paused", message: pausedLine(config) });
    },
    async resume() {
      await tell("resume", (tx) => writePaused(tx, config, false));
      const row = await peekAgentRow(db, agentKey(config));
      await activity.add({ level: "info", kind: "agent.resumed", message: resumedLine(config, row.state) });
    },
    async updateMandate(m) {
      await tell("mandate", (tx) => writeMandate(tx, config, m));
      await activity.add({ level: "info", kind: "agent.mandate", message: mandatedLine(config, m) });
    },
    async reset() {
      // What the store holds is cancelled here; the running agent drops its work and state.
      await tell("reset", async (tx) => void (await cancelOpenWork(tx, "cancelled by a demo reset", config.investor.userId)));
    },
  };
}
