import { describeOrder, formatOrderAmount, type OrderView } from "../orders/display";
import type { StockTradeDetail } from "../orders/order";
import { STOCK_TRADE_MANDATE_TYPE } from "../protocol";
import { formatInstant } from "../time";
import type { StockTradeMandateDetail } from "./mandate";

/**
 * How a standing mandate reads to a person, in the order's shape (lib/orders/display.ts), so the
 * approval page and its email show Alice the limits she is granting the same way they show an order.
 */
export function describeMandate(m: StockTradeMandateDetail): OrderView {
  return {
    headline: `Buy ${m.symbol} on its own, up to ${formatOrderAmount(m.max_per_trade)} per trade`,
    phrase: `buy ${m.symbol} without asking you, up to ${formatOrderAmount(m.max_per_trade)} per trade and ${formatOrderAmount(m.max_per_day)} per day`,
    side: "BUY",
    rows: [
      { label: "Action", value: "BUY", testId: "order-side" },
      { label: "Symbol", value: m.symbol, testId: "mandate-symbol" },
      { label: "At most per trade", value: formatOrderAmount(m.max_per_trade), testId: "mandate-max-per-trade" },
      { label: "At most per day (UTC)", value: formatOrderAmount(m.max_per_day), testId: "mandate-max-per-day" },
      { label: "Standing until", value: formatInstant(new Date(m.expires_at)), testId: "mandate-expires-at" },
      { label: "Mandate id", value: m.mandate_id, testId: "mandate-id" },
    ],
  };
}

/** An order or a mandate, whichever was asked for. */
export function describeDetail(d: StockTradeDetail | StockTradeMandateDetail): OrderView {
  return d.type === STOCK_TRADE_MANDATE_TYPE ? describeMandate(d) : describeOrder(d);
}
