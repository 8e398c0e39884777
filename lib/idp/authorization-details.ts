import { StockTradeDetail, stockTradeDetailProblem } from "../orders/order";
import { STOCK_TRADE_TYPE } from "../protocol";

/**
 * The one Rich Authorization Request type this server knows (RFC 9396 §2): a frozen stock order,
 * validated with the app's one order schema (lib/orders/order.ts), because it is exactly what
 * Alice approves and what the resource server later enforces: every field required, the right
 * type, no unknown fields (§5: anything else is `invalid_authorization_details`). The server adds
 * one rule of its own: an order that has already expired cannot be asked for.
 */

/** Why a `stock_trade` detail is refused, or undefined when it is a valid, unexpired order. */
export function stockTradeProblem(detail: unknown, now = Date.now()): string | undefined {
  const problem = stockTradeDetailProblem(detail);
  if (problem) return problem;
  if (Date.parse((detail as StockTradeDetail).expires_at) <= now) return `${STOCK_TRADE_TYPE} expires_at is in the past`;
  return undefined;
}

/** The stock orders among granted or requested details (the others are not this server's). */
export function stockTrades(details: unknown): StockTradeDetail[] {
  if (!Array.isArray(details)) return [];
  return details.filter((d): d is StockTradeDetail => StockTradeDetail.safeParse(d).success);
}
