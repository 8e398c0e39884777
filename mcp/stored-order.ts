import "server-only";
import type { Queryable } from "../lib/store/db";
import type { OrderSide } from "../lib/orders/order";
import type { ApprovedOrder, BindingRefusal } from "../lib/orders/check";

/**
 * What the store says about an order, read inside the trade's transaction with the order row
 * locked (`FOR UPDATE`), so that nothing can close the order between the check and the trade
 * (the agent's recovery after a crash, a reset, a denial recorded on another instance).
 *
 * Under either rule, an order the store has closed (failed, cancelled, denied, expired) never
 * executes: storedOrderClosed. Under "rar" the approval itself travels in the token; an order the
 * store does not know (another client's) is judged by the token alone.
 *
 * The "recorded-approval" rule's source of truth, for identity servers that cannot put
 * `authorization_details` into the token (WSO2's CIBA endpoint reads none). A token then says
 * only "Alice, stock:trade": on its own it approves nothing. An order executes only when all of
 * these hold, read from the store in one query:
 *
 * 1. the order is recorded for the token's subject (another user's order reads as missing);
 * 2. the order's status is `approved`: Alice decided, the client redeemed her approval and
 *    checked the token against the order (an order still waiting for her is refused, whatever
 *    token comes);
 * 3. the CIBA request for it is recorded as `approved`, with the `jti` of the token that
 *    redeeming it produced, and that is this token's `jti`: a token issued before her decision,
 *    for another request, or to anyone else cannot be this one.
 *
 * The order's own `expires_at` is checked by checkTradeAgainstOrder; single use comes from the
 * trades table (unique order_id and token jti), in the trade's transaction.
 */

interface Row {
  order_id: string;
  user_sub: string;
  symbol: string;
  side: OrderSide;
  quantity: number;
  limit_price_cents: number;
  max_notional_cents: number;
  expires_at: Date | string;
  status: string;
  token_jti: string | null;
}

/** Order statuses that mean "Alice has not decided yet" (as opposed to "closed"). */
const UNDECIDED = new Set(["open", "awaiting_approval"]);
/** Order statuses after which the order can never execute. */
const CLOSED = new Set(["failed", "cancelled", "denied", "expired"]);

/** A refusal when the store holds `orderId` and has closed it; undefined otherwise. */
export async function storedOrderClosed(tx: Queryable, orderId: string): Promise<BindingRefusal | undefined> {
  const [row] = await tx.query<{ status: string }>("SELECT status FROM orders WHERE order_id = $1 FOR UPDATE", [orderId]);
  if (row && CLOSED.has(row.status)) {
    return { ok: false, code: "order_not_executable", message: `Order ${orderId} is ${row.status} and cannot be executed.` };
  }
  return undefined;
}

export async function findRecordedApproval(
  tx: Queryable,
  orderId: string,
  token: { sub: string; jti: string },
): Promise<{ ok: true; order: ApprovedOrder } | BindingRefusal> {
  const [row] = await tx.query<Row>(
    `SELECT o.order_id, o.user_sub, o.symbol, o.side, o.quantity, o.limit_price_cents, o.max_notional_cents,
            o.expires_at, o.status, p.token_jti
       FROM orders o
       LEFT JOIN pending_approvals p ON p.order_id = o.order_id AND p.status = 'approved'
      WHERE o.order_id = $1
        FOR UPDATE OF o`,
    [orderId],
  );
  if (!row || row.user_sub !== token.sub) {
    return { ok: false, code: "order_not_approved", message: `No order ${orderId} is recorded for this user.` };
  }
  if (UNDECIDED.has(row.status)) {
    return { ok: false, code: "order_not_approved", message: `Order ${orderId} is still waiting for the user's approval.` };
  }
  if (CLOSED.has(row.status) || row.status !== "approved") {
    return { ok: false, code: "order_not_executable", message: `Order ${orderId} is ${row.status} and cannot be executed.` };
  }
  if (row.token_jti === null || row.token_jti !== token.jti) {
    return { ok: false, code: "token_not_bound", message: `This token was not issued for the approval of order ${orderId}.` };
  }
  return {
    ok: true,
    order: {
      orderId: row.order_id,
      symbol: row.symbol,
      side: row.side,
      quantity: Number(row.quantity),
      limitPriceCents: Number(row.limit_price_cents),
      maxNotionalCents: Number(row.max_notional_cents),
      expiresAt: row.expires_at instanceof Date ? row.expires_at : new Date(row.expires_at),
    },
  };
}
