import "server-only";
import type { ApprovedOrder, BindingRefusal } from "../lib/orders/check";
import type { Queryable } from "../lib/store/db";
import { CLOSED_ORDER_STATUSES, lockOrderOwner, lockOrderWithApproval, UNDECIDED_ORDER_STATUSES } from "../lib/store/orders";

/**
 * What the store says about an order, read inside the trade's transaction with the order row
 * locked (`FOR UPDATE`), so that nothing can close the order between the check and the trade
 * (the agent's recovery after a crash, a reset, a denial recorded on another instance).
 *
 * Under either rule, an order the store has closed (failed, cancelled, denied, expired) never
 * executes, and an order the store records for one investor never executes with another's token
 * (it would spend her order id): storedOrderRefusal. Under "rar" the approval itself travels in
 * the token; an order the store does not know (another client's) is judged by the token alone.
 *
 * The "recorded-approval" rule's source of truth, for identity servers that cannot put
 * `authorization_details` into the token (WSO2's CIBA endpoint reads none). A token then says
 * only "Alice, stock:trade": on its own it approves nothing. An order executes only when all of
 * these hold, read from the store in one query (lib/store/orders.ts lockOrderWithApproval):
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

/** A refusal when the store holds `orderId` for another user than `sub`, or has closed it; undefined otherwise. */
export async function storedOrderRefusal(tx: Queryable, orderId: string, sub: string): Promise<BindingRefusal | undefined> {
  const row = await lockOrderOwner(tx, orderId);
  if (row && row.userSub !== sub) {
    return { ok: false, code: "order_not_approved", message: `No order ${orderId} is recorded for this user.` };
  }
  if (row && CLOSED_ORDER_STATUSES.has(row.status)) {
    return { ok: false, code: "order_not_executable", message: `Order ${orderId} is ${row.status} and cannot be executed.` };
  }
  return undefined;
}

/**
 * The order this token may execute, as the store recorded Alice's approval of it (the order row
 * locked until the transaction ends), or why it may not.
 */
export async function approvedOrderFromStore(
  tx: Queryable,
  orderId: string,
  token: { sub: string; jti: string },
): Promise<{ ok: true; order: ApprovedOrder } | BindingRefusal> {
  const row = await lockOrderWithApproval(tx, orderId);
  if (!row || row.userSub !== token.sub) {
    return { ok: false, code: "order_not_approved", message: `No order ${orderId} is recorded for this user.` };
  }
  if (UNDECIDED_ORDER_STATUSES.has(row.status)) {
    return { ok: false, code: "order_not_approved", message: `Order ${orderId} is still waiting for the user's approval.` };
  }
  if (CLOSED_ORDER_STATUSES.has(row.status) || row.status !== "approved") {
    return { ok: false, code: "order_not_executable", message: `Order ${orderId} is ${row.status} and cannot be executed.` };
  }
  if (row.approvedTokenJti === null || row.approvedTokenJti !== token.jti) {
    return { ok: false, code: "token_not_bound", message: `This token was not issued for the approval of order ${orderId}.` };
  }
  const { orderId: id, symbol, side, quantity, limitPriceCents, maxNotionalCents, expiresAt } = row;
  return { ok: true, order: { orderId: id, symbol, side, quantity, limitPriceCents, maxNotionalCents, expiresAt } };
}
