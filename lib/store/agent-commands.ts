import "server-only";
import type { AgentCommand } from "../events/bus";
import type { Queryable } from "./db";

/**
 * Rows of table agent_commands: controls waiting for the instance that runs the agent. The
 * instance that takes a row deletes it in the same statement, so a control is applied once, by
 * one instance, in the order the controls were stored.
 */
export interface StoredAgentCommand {
  id: number;
  agentId: string;
  command: AgentCommand;
  mandateId: string | undefined;
}

/** How long a control waits for an instance that runs its agent; an agent that starts later reads the store instead. */
export const AGENT_COMMAND_TTL_SECONDS = 600;

export async function queueAgentCommand(db: Queryable, agentId: string, command: AgentCommand, mandateId?: string): Promise<void> {
  await db.query("INSERT INTO agent_commands (agent_id, command, mandate_id) VALUES ($1, $2, $3)", [agentId, command, mandateId ?? null]);
}

/** Takes (deletes and returns) the controls waiting for these agents, oldest first. */
export async function takeAgentCommands(db: Queryable, agentIds: string[]): Promise<StoredAgentCommand[]> {
  if (agentIds.length === 0) return [];
  const list = agentIds.map((_, i) => `$${i + 1}`).join(", ");
  const rows = await db.query<{ id: string | number; agent_id: string; command: string; mandate_id: string | null }>(
    `DELETE FROM agent_commands WHERE agent_id IN (${list}) RETURNING id, agent_id, command, mandate_id`,
    agentIds,
  );
  return rows
    .map((r) => ({ id: Number(r.id), agentId: r.agent_id, command: r.command as AgentCommand, mandateId: r.mandate_id ?? undefined }))
    .sort((a, b) => a.id - b.id);
}

/**
 * Before an agent starts (it then reads its settings from the store): the controls stored so far
 * are already in what it reads, except a standing mandate still to be asked for. A demo reset or
 * a re-enable applied after the start would stop work the new agent began.
 */
export async function dropStaleAgentCommands(db: Queryable, agentId: string): Promise<void> {
  await db.query("DELETE FROM agent_commands WHERE agent_id = $1 AND command <> 'grant-mandate'", [agentId]);
}

/** Controls nobody took within AGENT_COMMAND_TTL_SECONDS (no instance ran the agent meanwhile). */
export async function pruneAgentCommands(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM agent_commands WHERE created_at < now() - make_interval(secs => ${AGENT_COMMAND_TTL_SECONDS})`);
}
