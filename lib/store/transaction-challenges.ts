import "server-only";
import type { StockTradeDetail } from "../orders/order";
import { toDate } from "../time";
import type { Queryable } from "./db";

/**
 * The orders the resource server froze in its transaction challenges (mcp/transaction-challenge.ts),
 * read back inside a trade's transaction with the row locked. Written by the resource server only;
 * the embedded identity server reads them to decide which orders a client may ask Alice to approve.
 */
export interface ChallengedOrder {
  orderId: string;
  userSub: string;
  requester: string;
  clientId: string | null;
  detail: StockTradeDetail;
  expiresAt: Date;
  createdAt: Date;
}

type Row = Record<string, unknown>;

const toChallenged = (r: Row): ChallengedOrder => ({
  orderId: r.order_id as string,
  userSub: r.user_sub as string,
  requester: r.requester as string,
  clientId: (r.client_id as string | null) ?? null,
  detail: r.detail as StockTradeDetail,
  expiresAt: toDate(r.expires_at as Date | string),
  createdAt: toDate(r.created_at as Date | string),
});

export async function insertChallengedOrder(db: Queryable, order: Omit<ChallengedOrder, "createdAt">): Promise<void> {
  await db.query(
    `INSERT INTO transaction_challenges (order_id, user_sub, requester, client_id, detail, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [order.orderId, order.userSub, order.requester, order.clientId, JSON.stringify(order.detail), order.expiresAt.toISOString()],
  );
}

/** The challenged order with its row locked until the transaction ends; undefined when the server never froze it. */
export async function lockChallengedOrder(tx: Queryable, orderId: string): Promise<ChallengedOrder | undefined> {
  const [r] = await tx.query<Row>("SELECT * FROM transaction_challenges WHERE order_id = $1 FOR UPDATE", [orderId]);
  return r ? toChallenged(r) : undefined;
}

export async function getChallengedOrder(db: Queryable, orderId: string): Promise<ChallengedOrder | undefined> {
  const [r] = await db.query<Row>("SELECT * FROM transaction_challenges WHERE order_id = $1", [orderId]);
  return r ? toChallenged(r) : undefined;
}

/** How many orders `requester` had frozen for `userSub` since `since` (the challenge's rate limit). */
export async function countChallengesSince(db: Queryable, requester: string, userSub: string, since: Date): Promise<number> {
  const [r] = await db.query<{ n: number | string }>(
    "SELECT count(*) AS n FROM transaction_challenges WHERE requester = $1 AND user_sub = $2 AND created_at > $3",
    [requester, userSub, since.toISOString()],
  );
  return Number(r?.n ?? 0);
}
