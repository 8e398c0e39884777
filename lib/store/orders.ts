import "server-only";
import type { ApprovedOrder } from "../orders/check";
import type { OrderSide, StockTradeDetail } from "../orders/order";
import { toDate, toIso } from "../time";
import type { Trade } from "../types";
import type { Queryable } from "./db";

/**
 * The order SQL that the agent and the resource server share: an order row, its status, the jti
 * of the token its approval produced, the trade executed for it. The agent writes orders and
 * approvals (lib/agent/repository.ts), the resource server writes trades (lib/ledger/trades.ts);
 * both read one another's rows only through these functions, never through each other's code.
 *
 * Order statuses: open → awaiting_approval → approved → executed, or denied / expired / failed /
 * cancelled. Reads that end in `FOR UPDATE` must run inside a transaction: the lock is what keeps
 * a trade and the closing of its order from passing each other.
 */
export type OrderStatus = "open" | "awaiting_approval" | "approved" | "executed" | "denied" | "expired" | "failed" | "cancelled";
export type ApprovalStatus = "pending" | "approved" | "denied" | "expired" | "failed" | "cancelled";

/** Order statuses that mean "Alice has not decided yet" (as opposed to "closed"). */
export const UNDECIDED_ORDER_STATUSES: ReadonlySet<string> = new Set<OrderStatus>(["open", "awaiting_approval"]);
/** Order statuses after which the order can never execute. */
export const CLOSED_ORDER_STATUSES: ReadonlySet<string> = new Set<OrderStatus>(["failed", "cancelled", "denied", "expired"]);

type Row = Record<string, unknown>;

/** An order as the agent froze it, with what became of it. */
export interface OrderRecord {
  orderId: string;
  detail: StockTradeDetail;
  status: OrderStatus;
  statusReason: string | null;
  tradeId: number | null;
  createdAt: Date;
}

export async function getOrder(db: Queryable, orderId: string): Promise<OrderRecord | undefined> {
  const [r] = await db.query<Row>("SELECT order_id, detail, status, status_reason, trade_id, created_at FROM orders WHERE order_id = $1", [orderId]);
  if (!r) return undefined;
  return {
    orderId: r.order_id as string,
    detail: r.detail as StockTradeDetail,
    status: r.status as OrderStatus,
    statusReason: (r.status_reason as string | null) ?? null,
    tradeId: (r.trade_id as number | null) ?? null,
    createdAt: toDate(r.created_at as Date),
  };
}

/** The order's status with its row locked until the transaction ends; undefined for an unknown order. */
export async function lockOrderStatus(tx: Queryable, orderId: string): Promise<OrderStatus | undefined> {
  const [row] = await tx.query<{ status: OrderStatus }>("SELECT status FROM orders WHERE order_id = $1 FOR UPDATE", [orderId]);
  return row?.status;
}

/** The order's status and whose it is, the row locked until the transaction ends; undefined when unknown. */
export async function lockOrderOwner(tx: Queryable, orderId: string): Promise<{ status: OrderStatus; userSub: string } | undefined> {
  const [row] = await tx.query<{ status: OrderStatus; user_sub: string }>("SELECT status, user_sub FROM orders WHERE order_id = $1 FOR UPDATE", [orderId]);
  return row && { status: row.status, userSub: row.user_sub };
}

/** An order row with the jti of the token its approved CIBA request produced (null when none is recorded). */
export interface LockedOrder extends ApprovedOrder {
  userSub: string;
  status: OrderStatus;
  approvedTokenJti: string | null;
}

/** The order and its approval's token jti, the order row locked until the transaction ends. */
export async function lockOrderWithApproval(tx: Queryable, orderId: string): Promise<LockedOrder | undefined> {
  const [r] = await tx.query<Row>(
    `SELECT o.order_id, o.user_sub, o.symbol, o.side, o.quantity, o.limit_price_cents, o.max_notional_cents,
            o.expires_at, o.status, p.token_jti
       FROM orders o
       LEFT JOIN pending_approvals p ON p.order_id = o.order_id AND p.status = 'approved'
      WHERE o.order_id = $1
        FOR UPDATE OF o`,
    [orderId],
  );
  if (!r) return undefined;
  // BIGINT columns arrive as numbers (lib/store/db.ts type parsers).
  return {
    orderId: r.order_id as string,
    userSub: r.user_sub as string,
    symbol: r.symbol as string,
    side: r.side as OrderSide,
    quantity: r.quantity as number,
    limitPriceCents: r.limit_price_cents as number,
    maxNotionalCents: r.max_notional_cents as number,
    expiresAt: toDate(r.expires_at as Date | string),
    status: r.status as OrderStatus,
    approvedTokenJti: (r.token_jti as string | null) ?? null,
  };
}

/** A row of the trades table. */
export interface TradeRow {
  id: number;
  created_at: Date | string;
  user_sub: string;
  actor_sub: string | null;
  actor_chain: unknown;
  client_id: string | null;
  order_id: string | null;
  symbol: string;
  side: "buy" | "sell";
  quantity: number;
  price_cents: number;
  notional_cents: number;
  binding_rule: string | null;
}

export function toTrade(row: TradeRow): Trade {
  return {
    id: row.id,
    at: toIso(row.created_at),
    userSub: row.user_sub,
    actorSub: row.actor_sub,
    actorChain: row.actor_chain,
    clientId: row.client_id,
    orderId: row.order_id,
    symbol: row.symbol,
    side: row.side,
    quantity: row.quantity,
    priceCents: row.price_cents,
    notionalCents: row.notional_cents,
    bindingRule: row.binding_rule,
  };
}

/** The trade executed for an order: `trades.order_id` is unique, so there is at most one. */
export async function findTradeForOrder(db: Queryable, orderId: string): Promise<Trade | undefined> {
  const [row] = await db.query<TradeRow>("SELECT * FROM trades WHERE order_id = $1", [orderId]);
  return row ? toTrade(row) : undefined;
}
