import "server-only";
import type { Queryable } from "./db";
import { toDate } from "../time";

/**
 * The kill switch's record (table agent_revocations), one row per agent: whether Alice revoked it,
 * why, and from which instant its tokens count again. Written by lib/kill-switch, read by the
 * resource server (mcp/revocation.ts) on every call that carries one of the agent's tokens.
 *
 * The rule the resource server applies: while `status` is "revoked", every token of the agent is
 * refused; after a re-enable, a token whose `iat` is before `notBefore` (seconds) stays refused.
 * `version` grows with every change, so a cache can tell a stale copy.
 */
export interface AgentRevocation {
  agentId: string;
  clientId: string;
  status: "revoked" | "enabled";
  reason: string;
  revokedAt: Date;
  /** Null while a revocation's steps have not all run (start-up runs the rest). */
  completedAt: Date | null;
  notBefore: number;
  reenabledAt: Date | null;
  version: number;
}

type Row = {
  agent_id: string;
  client_id: string;
  status: "revoked" | "enabled";
  reason: string;
  revoked_at: Date | string;
  completed_at: Date | string | null;
  not_before: number | string;
  reenabled_at: Date | string | null;
  version: number | string;
};

function fromRow(r: Row): AgentRevocation {
  return {
    agentId: r.agent_id,
    clientId: r.client_id,
    status: r.status,
    reason: r.reason,
    revokedAt: toDate(r.revoked_at),
    completedAt: r.completed_at === null ? null : toDate(r.completed_at),
    notBefore: Number(r.not_before),
    reenabledAt: r.reenabled_at === null ? null : toDate(r.reenabled_at),
    version: Number(r.version),
  };
}

export async function readAgentRevocation(db: Queryable, agentId: string): Promise<AgentRevocation | undefined> {
  const rows = await db.query<Row>("SELECT * FROM agent_revocations WHERE agent_id = $1", [agentId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/**
 * Marks the agent revoked, once: a second or concurrent call finds it revoked already and changes
 * nothing (`changed: false`). `notBefore` is the first whole second after the revocation, so every
 * token issued before it has an `iat` below it.
 */
export async function recordAgentRevoked(
  db: Queryable,
  a: { agentId: string; clientId: string; reason: string; now: Date },
): Promise<{ record: AgentRevocation; changed: boolean }> {
  const notBefore = Math.floor(a.now.getTime() / 1000) + 1;
  const rows = await db.query<Row>(
    `INSERT INTO agent_revocations (agent_id, client_id, status, reason, revoked_at, not_before)
     VALUES ($1, $2, 'revoked', $3, $4, $5)
     ON CONFLICT (agent_id) DO UPDATE SET status = 'revoked', client_id = EXCLUDED.client_id, reason = EXCLUDED.reason,
       revoked_at = EXCLUDED.revoked_at, completed_at = NULL, not_before = EXCLUDED.not_before, reenabled_at = NULL,
       version = agent_revocations.version + 1
     WHERE agent_revocations.status <> 'revoked'
     RETURNING *`,
    [a.agentId, a.clientId, a.reason, a.now.toISOString(), notBefore],
  );
  if (rows[0]) return { record: fromRow(rows[0]), changed: true };
  return { record: (await readAgentRevocation(db, a.agentId))!, changed: false };
}

/** Every step of the revocation has run. */
export async function recordAgentRevocationCompleted(db: Queryable, agentId: string): Promise<void> {
  await db.query("UPDATE agent_revocations SET completed_at = now() WHERE agent_id = $1 AND status = 'revoked' AND completed_at IS NULL", [agentId]);
}

/**
 * Lifts the revocation, once: tokens issued before `notBefore` stay refused. Returns undefined when
 * the agent was not revoked (a second or concurrent re-enable).
 */
export async function recordAgentReenabled(db: Queryable, agentId: string, notBefore: number): Promise<AgentRevocation | undefined> {
  const rows = await db.query<Row>(
    `UPDATE agent_revocations SET status = 'enabled', reenabled_at = now(), not_before = GREATEST(not_before, $2),
       version = version + 1
     WHERE agent_id = $1 AND status = 'revoked' RETURNING *`,
    [agentId, notBefore],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}
