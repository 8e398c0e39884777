import { formatUsd, parseMoney } from "../money";
import { formatInstant } from "../time";
import type { StockTradeDetail } from "./order";

/**
 * How an order reads to a person: one set of words for the identity server's approval page, its
 * notification email and the dashboard's approval card, so that Alice reads the same order the
 * same way wherever she sees it.
 */
export interface OrderView {
  /** "Buy 38 NVDA" */
  headline: string;
  /** "buy 38 NVDA", to follow "wants to" */
  phrase: string;
  side: "BUY" | "SELL";
  rows: Array<{ label: string; value: string; testId: string }>;
}

/** The fields a person reads; `type` is the wire's business. */
export type OrderFields = Omit<StockTradeDetail, "type">;

/** "131.20 USD", "5,000.00 USD"; a string that is not an amount is shown as sent. */
export function formatOrderAmount(decimal: string): string {
  const cents = parseMoney(decimal);
  return cents === null ? `${decimal} USD` : `${formatUsd(cents).replace("$", "")} USD`;
}

export function describeOrder(order: OrderFields): OrderView {
  const side = order.side === "buy" ? "BUY" : "SELL";
  const quantity = order.quantity.toLocaleString("en-US");
  const shares = `${quantity} ${order.quantity === 1 ? "share" : "shares"}`;
  return {
    headline: `${order.side === "buy" ? "Buy" : "Sell"} ${quantity} ${order.symbol}`,
    phrase: `${order.side} ${quantity} ${order.symbol}`,
    side,
    rows: [
      { label: "Action", value: side, testId: "order-side" },
      { label: "Quantity", value: shares, testId: "order-quantity" },
      { label: "Symbol", value: order.symbol, testId: "order-symbol" },
      { label: "Limit price", value: `${formatOrderAmount(order.limit_price)} per share`, testId: "order-limit-price" },
      { label: "Maximum amount", value: formatOrderAmount(order.max_notional), testId: "order-max-notional" },
      { label: "Order valid until", value: formatInstant(new Date(order.expires_at)), testId: "order-expires-at" },
      { label: "Order id", value: order.order_id, testId: "order-id" },
    ],
  };
}
