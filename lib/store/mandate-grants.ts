import "server-only";
import type { Queryable } from "./db";

/**
 * Rows of table mandate_grants: the agent's sealed hold on a standing mandate's grant. This file
 * sees only sealed strings; sealing and opening them is the agent's (lib/agent/mandate-grant-vault.ts).
 * Revoking a mandate deletes its row in the same transaction (standing-mandates.ts).
 */
export interface SealedGrant {
  mandateId: string;
  sealed: string;
  /** Set while a token was being drawn: after a crash the sealed token may be spent. */
  drawingSince: Date | null;
  rotations: number;
  /** The mandate's record as it stands now. */
  mandateStatus: string;
  mandateExpiresAt: Date;
}

type Row = {
  mandate_id: string;
  sealed: string;
  drawing_since: Date | string | null;
  rotations: number;
  status: string;
  expires_at: Date | string;
};

const fromRow = (r: Row): SealedGrant => ({
  mandateId: r.mandate_id,
  sealed: r.sealed,
  drawingSince: r.drawing_since === null ? null : new Date(r.drawing_since),
  rotations: r.rotations,
  mandateStatus: r.status,
  mandateExpiresAt: new Date(r.expires_at),
});

/**
 * Stores the agent's hold on a mandate, only while the mandate's record still stands. The mandate
 * row is locked `FOR SHARE` until the hold is stored, so a revocation either comes first (and the
 * row no longer qualifies) or waits and then deletes the hold (standing-mandates.ts).
 */
export async function insertSealedGrant(db: Queryable, agentSub: string, mandateId: string, sealed: string): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO mandate_grants (mandate_id, agent_sub, sealed)
     SELECT mandate_id, agent_sub, $3 FROM mandates WHERE mandate_id = $1 AND agent_sub = $2 AND status <> 'revoked' FOR SHARE
     ON CONFLICT (mandate_id) DO UPDATE SET sealed = EXCLUDED.sealed, drawing_since = NULL, updated_at = now()
     RETURNING mandate_id`,
    [mandateId, agentSub, sealed],
  );
  return rows.length === 1;
}

/** The agent's holds, with their mandates' records. */
export async function listSealedGrants(db: Queryable, agentSub: string): Promise<SealedGrant[]> {
  const rows = await db.query<Row>(
    `SELECT g.mandate_id, g.sealed, g.drawing_since, g.rotations, m.status, m.expires_at
       FROM mandate_grants g JOIN mandates m USING (mandate_id)
      WHERE g.agent_sub = $1 ORDER BY g.updated_at DESC`,
    [agentSub],
  );
  return rows.map(fromRow);
}

/**
 * Marks a draw as begun and returns the sealed token to draw with; undefined when the hold is gone
 * (revoked), the mandate no longer stands, or another draw is in flight.
 */
export async function beginDraw(db: Queryable, agentSub: string, mandateId: string): Promise<string | undefined> {
  const rows = await db.query<{ sealed: string }>(
    `UPDATE mandate_grants g SET drawing_since = now(), updated_at = now()
       FROM mandates m
      WHERE g.mandate_id = $1 AND g.agent_sub = $2 AND g.drawing_since IS NULL
        AND m.mandate_id = g.mandate_id AND m.status = 'granted' AND m.expires_at > now()
      RETURNING g.sealed`,
    [mandateId, agentSub],
  );
  return rows[0]?.sealed;
}

/**
 * Ends a draw in one statement: the rotated token replaces the spent one (or, `sealed` undefined,
 * the token was not rotated and stays). False when the hold was deleted meanwhile (revoked).
 */
export async function endDraw(db: Queryable, agentSub: string, mandateId: string, sealed?: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE mandate_grants SET sealed = COALESCE($3, sealed), rotations = rotations + CASE WHEN $3::text IS NULL THEN 0 ELSE 1 END,
            drawing_since = NULL, updated_at = now()
      WHERE mandate_id = $1 AND agent_sub = $2 AND drawing_since IS NOT NULL
      RETURNING mandate_id`,
    [mandateId, agentSub, sealed ?? null],
  );
  return rows.length === 1;
}

/** The agent lets the hold go (the grant is refused, spent, or cannot be opened). */
export async function deleteSealedGrant(db: Queryable, agentSub: string, mandateId: string): Promise<void> {
  await db.query("DELETE FROM mandate_grants WHERE mandate_id = $1 AND agent_sub = $2", [mandateId, agentSub]);
}
