import "server-only";
import { parseMoney } from "../lib/money";
import type { ApprovedOrder, BindingRefusal } from "../lib/orders/check";
import type { Principal } from "../lib/protected-resource/principal";
import type { Queryable } from "../lib/store/db";
import { lockChallengedOrder } from "../lib/store/transaction-challenges";

/**
 * A trade that names an order this server froze in a transaction challenge
 * (transaction-challenge.ts) must come from whom the challenge was for: read in the trade's
 * transaction with the challenge row locked.
 *
 * 1. the token's subject is the investor the order was frozen for;
 * 2. the party acting is the one that asked: the token's actor (`act.sub`, or `azp` for a user
 *    token without `act`) or its client is the challenged requester or its client (an order frozen
 *    for client A, approved through client B, does not execute);
 * 3. the approved order (from the token under "rar", from the store under "recorded-approval")
 *    is the frozen one field for field: an approval of the same order id with another quantity,
 *    side, symbol, limit, maximum or expiry approves something the server never named.
 *
 * An order id the server never froze is judged by the binding rule alone (a standing mandate's
 * own order, an order of a deployment that does not challenge).
 */
export async function checkChallengedOrder(
  tx: Queryable,
  orderId: string,
  principal: Principal,
  approved: ApprovedOrder | undefined,
): Promise<{ ok: true } | BindingRefusal> {
  const challenged = await lockChallengedOrder(tx, orderId);
  if (!challenged) return { ok: true };
  if (challenged.userSub !== principal.sub) {
    return { ok: false, code: "order_not_approved", message: `Order ${orderId} was not frozen for this user.` };
  }
  const acting = [principal.actor, principal.clientId].filter((v): v is string => v !== null);
  const askedBy = [challenged.requester, challenged.clientId].filter((v): v is string => v !== null);
  if (!acting.some((party) => askedBy.includes(party))) {
    return { ok: false, code: "order_not_approved", message: `Order ${orderId} was frozen for another client.` };
  }
  if (approved && !sameOrder(approved, challenged.detail)) {
    return { ok: false, code: "order_mismatch", message: `The approved order ${orderId} differs from the order the broker named.` };
  }
  return { ok: true };
}

function sameOrder(a: ApprovedOrder, frozen: { symbol: string; side: string; quantity: number; limit_price: string; max_notional: string; expires_at: string }): boolean {
  return (
    a.symbol === frozen.symbol &&
    a.side === frozen.side &&
    a.quantity === frozen.quantity &&
    a.limitPriceCents === parseMoney(frozen.limit_price) &&
    a.maxNotionalCents === parseMoney(frozen.max_notional) &&
    a.expiresAt.getTime() === new Date(frozen.expires_at).getTime()
  );
}
