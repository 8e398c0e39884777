import "server-only";
import type { TokenClaims } from "../auth/types";
import { parseMoney } from "../money";
import type { StockTradeDetail } from "../orders/order";
import type { Db, Queryable } from "../store/db";
import { findTradeForOrder, lockOrderStatus, type ApprovalStatus, type OrderStatus } from "../store/orders";
import { toDate } from "../time";
import type { AgentState } from "./state-machine";

/**
 * The agent's persistence: its state row (agent_state), the orders it froze (orders) and the CIBA
 * requests it waits on (pending_approvals). Token columns hold decoded claims only. What the
 * resource server reads of these rows too (an order, its status, its approval's token jti, its
 * trade) is in lib/store/orders.ts.
 *
 * The MCP server's "recorded-approval" rule (for servers without RAR) executes only an
 * `approved` order whose request is `approved` with the token's jti (recordApprovedToken).
 */

export interface AgentRow {
  state: AgentState;
  orderId: string | null;
  reason: string | null;
  cooldownUntil: Date | null;
  armed: boolean;
  agentTokenClaims: TokenClaims | null;
  oboTokenClaims: TokenClaims | null;
  updatedAt: Date;
}

export interface ApprovalRecord {
  authReqId: string;
  orderId: string;
  bindingMessage: string;
  status: ApprovalStatus;
  intervalSeconds: number;
  expiresAt: Date;
  nextPollAt: Date;
  consecutiveFailures: number;
  lastError: string | null;
  createdAt: Date;
  decidedAt: Date | null;
}

const dateOrNull = (v: Date | string | null) => (v === null ? null : toDate(v));

type Row = Record<string, unknown>;

function toAgentRow(r: Row): AgentRow {
  return {
    state: r.state as AgentState,
    orderId: (r.order_id as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    cooldownUntil: dateOrNull(r.cooldown_until as Date | null),
    armed: Boolean(r.armed),
    agentTokenClaims: (r.agent_token_claims as TokenClaims | null) ?? null,
    oboTokenClaims: (r.obo_token_claims as TokenClaims | null) ?? null,
    updatedAt: toDate(r.updated_at as Date),
  };
}

export async function loadAgentRow(db: Queryable, agentId: string): Promise<AgentRow> {
  await db.query("INSERT INTO agent_state (agent_id, state) VALUES ($1, 'MONITORING') ON CONFLICT (agent_id) DO NOTHING", [agentId]);
  const [row] = await db.query<Row>("SELECT * FROM agent_state WHERE agent_id = $1", [agentId]);
  return toAgentRow(row!);
}

/** The stored row without creating one (read-only callers): a fresh agent monitors. */
export async function peekAgentRow(db: Queryable, agentId: string): Promise<AgentRow> {
  const [row] = await db.query<Row>("SELECT * FROM agent_state WHERE agent_id = $1", [agentId]);
  if (row) return toAgentRow(row);
  return { state: "MONITORING", orderId: null, reason: null, cooldownUntil: null, armed: true, agentTokenClaims: null, oboTokenClaims: null, updatedAt: new Date(0) };
}

export type AgentPatch = Partial<Omit<AgentRow, "updatedAt">>;

const COLUMNS: Record<keyof AgentPatch, string> = {
  state: "state",
  orderId: "order_id",
  reason: "reason",
  cooldownUntil: "cooldown_until",
  armed: "armed",
  agentTokenClaims: "agent_token_claims",
  oboTokenClaims: "obo_token_claims",
};

export async function saveAgentRow(db: Queryable, agentId: string, patch: AgentPatch): Promise<AgentRow> {
  const sets: string[] = [];
  const values: unknown[] = [agentId];
  for (const [key, value] of Object.entries(patch) as [keyof AgentPatch, unknown][]) {
    if (value === undefined) continue;
    values.push(key === "agentTokenClaims" || key === "oboTokenClaims" ? (value === null ? null : JSON.stringify(value)) : value);
    sets.push(`${COLUMNS[key]} = $${values.length}`);
  }
  const [row] = await db.query<Row>(`UPDATE agent_state SET ${[...sets, "updated_at = now()"].join(", ")} WHERE agent_id = $1 RETURNING *`, values);
  return toAgentRow(row!);
}

export async function insertOrder(db: Queryable, order: StockTradeDetail, userSub: string, proposal: unknown): Promise<void> {
  await db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status, detail, proposal)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10)`,
    [
      order.order_id,
      userSub,
      order.symbol,
      order.side,
      order.quantity,
      parseMoney(order.limit_price),
      parseMoney(order.max_notional),
      order.expires_at,
      JSON.stringify(order),
      JSON.stringify(proposal ?? null),
    ],
  );
}

export async function setOrderStatus(db: Queryable, orderId: string, status: OrderStatus, reason?: string | null, tradeId?: number | null): Promise<void> {
  await db.query(
    `UPDATE orders SET status = $2, status_reason = COALESCE($3, status_reason), trade_id = COALESCE($4, trade_id), updated_at = now() WHERE order_id = $1`,
    [orderId, status, reason ?? null, tradeId ?? null],
  );
}

function toApproval(r: Row): ApprovalRecord {
  return {
    authReqId: r.auth_req_id as string,
    orderId: r.order_id as string,
    bindingMessage: r.binding_message as string,
    status: r.status as ApprovalStatus,
    intervalSeconds: Number(r.interval_seconds),
    expiresAt: toDate(r.expires_at as Date),
    nextPollAt: toDate(r.next_poll_at as Date),
    consecutiveFailures: Number(r.consecutive_failures ?? 0),
    lastError: (r.last_error as string | null) ?? null,
    createdAt: toDate(r.created_at as Date),
    decidedAt: dateOrNull((r.decided_at as Date | null) ?? null),
  };
}

export async function insertApproval(
  db: Queryable,
  a: { authReqId: string; orderId: string; bindingMessage: string; intervalSeconds: number; expiresAt: Date; nextPollAt: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at)
     VALUES ($1, $2, $3, 'pending', $4, $5, $6)`,
    [a.authReqId, a.orderId, a.bindingMessage, a.intervalSeconds, a.expiresAt, a.nextPollAt],
  );
}

export async function updateApprovalPolling(
  db: Queryable,
  authReqId: string,
  p: { intervalSeconds: number; nextPollAt: Date; consecutiveFailures: number; lastError: string | null },
): Promise<void> {
  await db.query(
    `UPDATE pending_approvals SET interval_seconds = $2, next_poll_at = $3, consecutive_failures = $4, last_error = $5, updated_at = now()
     WHERE auth_req_id = $1`,
    [authReqId, p.intervalSeconds, p.nextPollAt, p.consecutiveFailures, p.lastError],
  );
}

export async function setApprovalStatus(db: Queryable, authReqId: string, status: ApprovalStatus, lastError?: string | null): Promise<void> {
  await db.query(
    `UPDATE pending_approvals SET status = $2, last_error = COALESCE($3, last_error), decided_at = COALESCE(decided_at, now()), updated_at = now()
     WHERE auth_req_id = $1`,
    [authReqId, status, lastError ?? null],
  );
}

/**
 * Alice approved: the request is `approved`, and the on-behalf-of token obtained by redeeming it
 * is recorded by its `jti` (decoded claims only, never the token). Under the recorded-approval
 * rule the broker executes the order with this token and no other.
 */
export async function recordApprovedToken(db: Queryable, authReqId: string, tokenJti: string | null): Promise<void> {
  await db.query(
    `UPDATE pending_approvals SET status = 'approved', token_jti = $2, decided_at = COALESCE(decided_at, now()), updated_at = now()
     WHERE auth_req_id = $1`,
    [authReqId, tokenJti],
  );
}

/** The newest approval for an order (one per order in practice). */
export async function findApprovalForOrder(db: Queryable, orderId: string): Promise<ApprovalRecord | undefined> {
  const [r] = await db.query<Row>("SELECT * FROM pending_approvals WHERE order_id = $1 ORDER BY created_at DESC LIMIT 1", [orderId]);
  return r ? toApproval(r) : undefined;
}

/**
 * Reset: every order and approval still open is cancelled (one investor's when `userSub` is
 * given, everyone's otherwise); nothing of them can be executed.
 */
export async function cancelOpenWork(db: Queryable, reason: string, userSub?: string): Promise<number> {
  await db.query(
    `UPDATE pending_approvals p SET status = 'cancelled', last_error = $1, decided_at = now(), updated_at = now()
      WHERE p.status = 'pending' AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM orders o WHERE o.order_id = p.order_id AND o.user_sub = $2::text))`,
    [reason, userSub ?? null],
  );
  const rows = await db.query(
    "UPDATE orders SET status = 'cancelled', status_reason = $1, updated_at = now() WHERE status IN ('open', 'awaiting_approval', 'approved') AND ($2::text IS NULL OR user_sub = $2::text) RETURNING order_id",
    [reason, userSub ?? null],
  );
  return rows.length;
}

/**
 * Closes an order unless the ledger holds a trade for it, so that an order that traded is never
 * marked failed. The order row is locked first: a trade in flight holds that lock (the broker
 * reads the order FOR UPDATE in the trade's transaction), so this waits for it to commit or roll
 * back, and the ledger check that follows, a new statement, sees the outcome. Returns false when
 * the order traded (or is already executed, or unknown).
 */
export async function closeOrderUnlessTraded(db: Db, orderId: string, status: "failed" | "denied" | "expired" | "cancelled", reason: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const current = await lockOrderStatus(tx, orderId);
    if (!current || current === "executed") return false;
    if (await findTradeForOrder(tx, orderId)) return false;
    await tx.query("UPDATE orders SET status = $2, status_reason = $3, updated_at = now() WHERE order_id = $1", [orderId, status, reason]);
    return true;
  });
}

/**
 * Closes the user's orders left `open` (frozen, no approval request recorded for them) except
 * `keepOrderId`, unless they traded. Returns the ids closed.
 */
export async function closeOrphanedOpenOrders(db: Queryable, userSub: string, keepOrderId: string | null, reason: string): Promise<string[]> {
  const rows = await db.query<{ order_id: string }>(
    `UPDATE orders o SET status = 'failed', status_reason = $3, updated_at = now()
      WHERE o.user_sub = $1 AND o.status = 'open' AND o.order_id IS DISTINCT FROM $2
        AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.order_id = o.order_id)
      RETURNING o.order_id`,
    [userSub, keepOrderId, reason],
  );
  return rows.map((r) => r.order_id);
}
