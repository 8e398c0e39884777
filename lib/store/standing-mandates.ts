import "server-only";
import type { Mandate } from "../standing-mandate/mandate";
import { toDate } from "../time";
import type { Db, Queryable } from "./db";

/**
 * The app's record of Alice's standing mandates (table mandates): written by the dashboard's grant
 * and revoke (lib/delegation), read by the resource server inside every trade made under a
 * mandate (mcp/standing-mandate.ts), with the row locked so that a revocation and a trade cannot interleave.
 */
export type MandateStatus = "requested" | "granted" | "revoked";

export interface MandateRecord extends Mandate {
  userSub: string;
  agentSub: string;
  status: MandateStatus;
  createdAt: Date;
  grantedAt: Date | null;
  revokedAt: Date | null;
  authReqId: string | null;
}

type Row = {
  mandate_id: string;
  user_sub: string;
  agent_sub: string;
  symbol: string;
  max_per_trade_cents: number | string;
  max_per_day_cents: number | string;
  expires_at: Date | string;
  status: MandateStatus;
  created_at: Date | string;
  granted_at: Date | string | null;
  revoked_at: Date | string | null;
  auth_req_id: string | null;
};

function fromRow(r: Row): MandateRecord {
  return {
    mandateId: r.mandate_id,
    userSub: r.user_sub,
    agentSub: r.agent_sub,
    symbol: r.symbol,
    maxPerTradeCents: Number(r.max_per_trade_cents),
    maxPerDayCents: Number(r.max_per_day_cents),
    expiresAt: toDate(r.expires_at),
    status: r.status,
    createdAt: toDate(r.created_at),
    grantedAt: r.granted_at === null ? null : toDate(r.granted_at),
    revokedAt: r.revoked_at === null ? null : toDate(r.revoked_at),
    authReqId: r.auth_req_id,
  };
}

/** Records a mandate Alice has asked the authorization server to grant (status 'requested'). */
export async function recordMandateRequested(db: Queryable, m: Mandate & { userSub: string; agentSub: string }): Promise<MandateRecord> {
  const [row] = await db.query<Row>(
    `INSERT INTO mandates (mandate_id, user_sub, agent_sub, symbol, max_per_trade_cents, max_per_day_cents, expires_at, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested') RETURNING *`,
    [m.mandateId, m.userSub, m.agentSub, m.symbol, m.maxPerTradeCents, m.maxPerDayCents, m.expiresAt.toISOString()],
  );
  return fromRow(row!);
}

/** The CIBA request that asks the authorization server for the mandate (to withdraw its grant later). */
export async function setMandateRequest(db: Queryable, mandateId: string, authReqId: string): Promise<void> {
  await db.query("UPDATE mandates SET auth_req_id = $2 WHERE mandate_id = $1", [mandateId, authReqId]);
}

/** The authorization server issued it: a requested mandate becomes granted, once. */
export async function recordMandateGranted(db: Queryable, mandateId: string): Promise<boolean> {
  const rows = await db.query("UPDATE mandates SET status = 'granted', granted_at = now() WHERE mandate_id = $1 AND status = 'requested' RETURNING mandate_id", [mandateId]);
  return rows.length === 1;
}

/**
 * Revokes the user's mandate, once; false when it is not theirs or is revoked already. The agent's
 * sealed hold on its grant (mandate-grants.ts) is deleted in the same transaction, by a second
 * statement: the UPDATE waits for a hold being stored (it locks the mandate row `FOR SHARE`), and
 * only a later statement's snapshot sees that hold, so none is left behind for a revoked mandate.
 */
export async function recordMandateRevoked(db: Db, mandateId: string, userSub: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.query(
      "UPDATE mandates SET status = 'revoked', revoked_at = now() WHERE mandate_id = $1 AND user_sub = $2 AND status <> 'revoked' RETURNING mandate_id",
      [mandateId, userSub],
    );
    await tx.query("DELETE FROM mandate_grants WHERE mandate_id = $1 AND EXISTS (SELECT 1 FROM mandates WHERE mandate_id = $1 AND user_sub = $2)", [mandateId, userSub]);
    return rows.length === 1;
  });
}

/**
 * The agent lost its hold on the mandate's grant (a draw failed, or a restart found the hold
 * unusable): the mandate is revoked, so that the dashboard stops showing it in force and the
 * resource server refuses any token carrying it. False when it was revoked already.
 */
export async function recordMandateLost(db: Queryable, mandateId: string, agentSub: string): Promise<boolean> {
  const rows = await db.query(
    "UPDATE mandates SET status = 'revoked', revoked_at = now() WHERE mandate_id = $1 AND agent_sub = $2 AND status <> 'revoked' RETURNING mandate_id",
    [mandateId, agentSub],
  );
  return rows.length === 1;
}

/**
 * The kill switch: every standing mandate of the agent that still stands is revoked, then every
 * sealed hold of the agent on a grant is deleted, in one transaction (two statements, as in
 * recordMandateRevoked); returns how many were revoked.
 */
export async function revokeAgentMandates(db: Db, agentSub: string): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.query("UPDATE mandates SET status = 'revoked', revoked_at = now() WHERE agent_sub = $1 AND status <> 'revoked' RETURNING mandate_id", [agentSub]);
    await tx.query("DELETE FROM mandate_grants WHERE agent_sub = $1", [agentSub]);
    return rows.length;
  });
}

/** The mandate row locked until the transaction ends (`FOR UPDATE`): trades under it serialize here. */
export async function lockMandate(tx: Queryable, mandateId: string): Promise<MandateRecord | undefined> {
  const rows = await tx.query<Row>("SELECT * FROM mandates WHERE mandate_id = $1 FOR UPDATE", [mandateId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function readMandate(db: Queryable, mandateId: string): Promise<MandateRecord | undefined> {
  const rows = await db.query<Row>("SELECT * FROM mandates WHERE mandate_id = $1", [mandateId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** The user's newest mandate that is neither revoked nor expired (requested or granted), if any. */
export async function currentMandate(db: Queryable, userSub: string): Promise<MandateRecord | undefined> {
  const rows = await db.query<Row>(
    "SELECT * FROM mandates WHERE user_sub = $1 AND status <> 'revoked' AND expires_at > now() ORDER BY created_at DESC LIMIT 1",
    [userSub],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}
