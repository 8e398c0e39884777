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

/** Which of these agents have controls waiting. */
export async function agentsWithCommands(db: Queryable, agentIds: string[]): Promise<string[]> {
  if (agentIds.length === 0) return [];
  const list = agentIds.map((_, i) => `$${i + 1}`).join(", ");
  const rows = await db.query<{ agent_id: string }>(`SELECT DISTINCT agent_id FROM agent_commands WHERE agent_id IN (${list})`, agentIds);
  return rows.map((r) => r.agent_id);
}

/** Takes (deletes and returns) the oldest control waiting for the agent, if any. */
export async function takeNextAgentCommand(db: Queryable, agentId: string): Promise<StoredAgentCommand | undefined> {
  const [row] = await db.query<{ id: string | number; agent_id: string; command: string; mandate_id: string | null }>(
    `DELETE FROM agent_commands WHERE id = (SELECT id FROM agent_commands WHERE agent_id = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, agent_id, command, mandate_id`,
    [agentId],
  );
  return row && { id: Number(row.id), agentId: row.agent_id, command: row.command as AgentCommand, mandateId: row.mandate_id ?? undefined };
}

/**
 * Before an agent starts (it then reads its settings from the store): the controls stored so far
 * are already in what it reads, except a standing mandate still to be asked for and a demo reset
 * (the agent's state is reset by the agent). A re-enable applied after the start would stop the
 * work the new agent began.
 */
export async function dropStaleAgentCommands(db: Queryable, agentId: string): Promise<void> {
  await db.query("DELETE FROM agent_commands WHERE agent_id = $1 AND command NOT IN ('grant-mandate', 'reset')", [agentId]);
}

/** Controls nobody took within AGENT_COMMAND_TTL_SECONDS (no instance ran the agent meanwhile). */
export async function pruneAgentCommands(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM agent_commands WHERE created_at < now() - make_interval(secs => ${AGENT_COMMAND_TTL_SECONDS})`);
}
