import "server-only";
import { randomBytes } from "node:crypto";
import type { Queryable } from "../store/db";
import { toDate } from "../time";

/**
 * The CIBA requests this server asked the user to decide (table idp_approvals): one row per
 * request, keyed by an opaque handle that goes into the email links. The auth_req_id never leaves
 * the client/server channel (a link in a mailbox is not the place for it).
 */
export type CibaRequestStatus = "pending" | "approved" | "denied" | "cancelled";

export interface StoredCibaRequest {
  handle: string;
  authReqId: string;
  clientId: string;
  accountId: string;
  actorSub: string | null;
  scope: string;
  bindingMessage: string | null;
  authorizationDetails: unknown[] | null;
  status: CibaRequestStatus;
  grantId: string | null;
  mailId: string | null;
  expiresAt: Date;
  decidedAt: Date | null;
  createdAt: Date;
}

type Row = {
  handle: string;
  auth_req_id: string;
  client_id: string;
  account_id: string;
  actor_sub: string | null;
  scope: string;
  binding_message: string | null;
  authorization_details: unknown[] | null;
  status: CibaRequestStatus;
  grant_id: string | null;
  mail_id: string | null;
  expires_at: Date | string;
  decided_at: Date | string | null;
  created_at: Date | string;
};

function fromRow(r: Row): StoredCibaRequest {
  return {
    handle: r.handle,
    authReqId: r.auth_req_id,
    clientId: r.client_id,
    accountId: r.account_id,
    actorSub: r.actor_sub,
    scope: r.scope,
    bindingMessage: r.binding_message,
    authorizationDetails: r.authorization_details,
    status: r.status,
    grantId: r.grant_id,
    mailId: r.mail_id,
    expiresAt: toDate(r.expires_at),
    decidedAt: r.decided_at === null ? null : toDate(r.decided_at),
    createdAt: toDate(r.created_at),
  };
}

/** A CIBA request's handle for the email links: 256 random bits, URL-safe. */
export function newCibaRequestHandle(): string {
  return `apr_${randomBytes(32).toString("base64url")}`;
}

export type NewCibaRequest = Pick<
  StoredCibaRequest,
  "handle" | "authReqId" | "clientId" | "accountId" | "actorSub" | "scope" | "bindingMessage" | "authorizationDetails" | "expiresAt"
>;

export async function recordCibaRequest(db: Queryable, a: NewCibaRequest): Promise<void> {
  await db.query(
    `INSERT INTO idp_approvals
       (handle, auth_req_id, client_id, account_id, actor_sub, scope, binding_message, authorization_details, status, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)`,
    [
      a.handle,
      a.authReqId,
      a.clientId,
      a.accountId,
      a.actorSub,
      a.scope,
      a.bindingMessage,
      a.authorizationDetails === null ? null : JSON.stringify(a.authorizationDetails),
      a.expiresAt.toISOString(),
    ],
  );
}

export async function findCibaRequest(db: Queryable, handle: string): Promise<StoredCibaRequest | undefined> {
  const rows = await db.query<Row>("SELECT * FROM idp_approvals WHERE handle = $1", [handle]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/**
 * Undecided, unexpired requests of one client for one user: the approval-bombing guard counts
 * these per client, so one client filling its share cannot starve another.
 */
export async function countPendingCibaRequests(db: Queryable, accountId: string, clientId: string): Promise<number> {
  const rows = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM idp_approvals WHERE account_id = $1 AND client_id = $2 AND status = 'pending' AND expires_at > now()",
    [accountId, clientId],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Records a decision, once: only a pending, unexpired approval changes, so two tabs pressing
 * Approve and Deny at the same moment cannot both win. Returns false when nothing changed.
 */
export async function recordCibaDecision(db: Queryable, handle: string, status: "approved" | "denied"): Promise<boolean> {
  const rows = await db.query<{ handle: string }>(
    `UPDATE idp_approvals SET status = $2, decided_at = now()
     WHERE handle = $1 AND status = 'pending' AND expires_at > now() RETURNING handle`,
    [handle, status],
  );
  return rows.length === 1;
}

export async function setCibaRequestGrant(db: Queryable, handle: string, grantId: string): Promise<void> {
  await db.query("UPDATE idp_approvals SET grant_id = $2 WHERE handle = $1", [handle, grantId]);
}

export async function setCibaRequestMail(db: Queryable, handle: string, mailId: string): Promise<void> {
  await db.query("UPDATE idp_approvals SET mail_id = $2 WHERE handle = $1", [handle, mailId]);
}

/** The CIBA request that produced this grant, if any. */
export async function findCibaRequestByGrant(db: Queryable, grantId: string): Promise<StoredCibaRequest | undefined> {
  const rows = await db.query<Row>("SELECT * FROM idp_approvals WHERE grant_id = $1", [grantId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}
