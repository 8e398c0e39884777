import "server-only";
import type { Queryable } from "../store/db";
import { loadAgentRow, saveAgentRow, type AgentPatch, type AgentRow } from "./repository";
import { nextState, type AgentEvent } from "./state-machine";

/**
 * The agent's persisted state, in memory and in the store at once. Every change goes through
 * here, one at a time (writes are serialized), is stored before it counts, and is announced
 * (the dashboard refetches /api/agent on the bus's "agent" event).
 */
export class AgentStateStore {
  private row: AgentRow | undefined;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Queryable,
    private readonly agentId: string,
    private readonly onChange: (reason: string) => void,
  ) {}

  async load(): Promise<AgentRow> {
    this.row = await loadAgentRow(this.db, this.agentId);
    return this.row;
  }

  get current(): AgentRow {
    if (!this.row) throw new Error("agent state not loaded");
    return this.row;
  }

  /** Applies a state-machine event (IllegalTransition if it does not apply) and stores it. */
  transition(event: AgentEvent, patch: AgentPatch = {}): Promise<AgentRow> {
    return this.write(event, () => ({ ...patch, state: nextState(this.current.state, event) }));
  }

  /** Stores a change that is not a transition (token claims, arming). */
  patch(patch: AgentPatch): Promise<AgentRow> {
    return this.write("patch", () => patch);
  }

  /** Resolves when every change asked for so far is stored. */
  async flushed(): Promise<void> {
    await this.writes.catch(() => undefined);
  }

  private write(reason: string, change: () => AgentPatch): Promise<AgentRow> {
    const run = async () => {
      this.row = await saveAgentRow(this.db, this.agentId, change());
      this.onChange(reason);
      return this.row;
    };
    const next = this.writes.then(run, run);
    this.writes = next.catch(() => undefined);
    return next;
  }
}
