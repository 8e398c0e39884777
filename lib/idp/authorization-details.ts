import { mandateDetailProblem, StockTradeMandateDetail } from "../standing-mandate/mandate";
import { StockTradeDetail, stockTradeDetailProblem } from "../orders/order";
import { STOCK_TRADE_MANDATE_TYPE, STOCK_TRADE_TYPE } from "../protocol";

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

/**
 * The second type: a standing mandate (lib/standing-mandate/mandate.ts), validated with the app's one
 * mandate schema; one that has already expired cannot be asked for.
 */
export function stockTradeMandateProblem(detail: unknown, now = Date.now()): string | undefined {
  const problem = mandateDetailProblem(detail);
  if (problem) return problem;
  if (Date.parse((detail as StockTradeMandateDetail).expires_at) <= now) return `${STOCK_TRADE_MANDATE_TYPE} expires_at is in the past`;
  return undefined;
}

/** The order or the mandate a request asks for, to show to the user (the first valid one). */
export function askedFor(details: unknown): StockTradeDetail | StockTradeMandateDetail | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const order = StockTradeDetail.safeParse(d);
    if (order.success) return order.data;
    const mandate = StockTradeMandateDetail.safeParse(d);
    if (mandate.success) return mandate.data;
  }
  return undefined;
}

/** The one valid mandate among granted details, if that is what they are. */
export function grantedMandate(details: unknown): StockTradeMandateDetail | undefined {
  if (!Array.isArray(details) || details.length !== 1) return undefined;
  const parsed = StockTradeMandateDetail.safeParse(details[0]);
  return parsed.success ? parsed.data : undefined;
}

/** Seconds until the granted mandate expires (at least 1), or 1 when the details grant none. */
export function mandateSecondsLeft(details: unknown, now = Date.now()): number {
  const mandate = grantedMandate(details);
  if (!mandate) return 1;
  return Math.max(1, Math.floor((Date.parse(mandate.expires_at) - now) / 1000));
}
