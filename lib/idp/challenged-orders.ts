import "server-only";
import type { StockTradeDetail } from "../orders/order";
import type { Queryable } from "../store/db";
import { findTradeForOrder } from "../store/orders";
import { getChallengedOrder } from "../store/transaction-challenges";

/**
 * Which orders a client that registered itself (an MCP host) may ask Alice to approve in the
 * authorization code flow: only one the resource server named in a transaction challenge to that
 * very client (lib/store/transaction-challenges.ts), field for field, for that user, still
 * unexpired and not yet traded. The client cannot invent an order, widen one, or take another
 * client's: the order id is the resource server's and the row records who asked.
 *
 * Checked when the request arrives (no user yet), again when Alice consents, and again when the
 * code is exchanged, so an order that expired or traded in between yields no token.
 */
const FIELDS = ["type", "order_id", "symbol", "side", "quantity", "limit_price", "max_notional", "expires_at"] as const;

export async function challengedOrderProblem(
  db: Queryable,
  detail: StockTradeDetail,
  clientId: string,
  accountId: string | undefined,
  now = Date.now(),
): Promise<string | undefined> {
  const named = await getChallengedOrder(db, detail.order_id);
  if (!named) return `order ${detail.order_id} was not named by the resource server`;
  if (named.requester !== clientId && named.clientId !== clientId) return `order ${detail.order_id} was named for another client`;
  if (accountId !== undefined && named.userSub !== accountId) return `order ${detail.order_id} is for another user`;
  const frozen = named.detail as Record<string, unknown>;
  const asked = detail as Record<string, unknown>;
  if (Object.keys(asked).length !== FIELDS.length || FIELDS.some((f) => asked[f] !== frozen[f])) {
    return `order ${detail.order_id} differs from the order the resource server named`;
  }
  if (named.expiresAt.getTime() <= now) return `order ${detail.order_id} has expired`;
  if (await findTradeForOrder(db, detail.order_id)) return `order ${detail.order_id} has already been executed`;
  return undefined;
}
