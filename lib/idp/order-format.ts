import { formatUsd, parseMoney } from "../money";
import type { StockTrade } from "./authorization-details";
import { SCOPE_READ, SCOPE_TRADE } from "../protocol";

/**
 * How an approved order reads to a person, shared by the notification email and the approval page
 * so that both show the same words for the same `authorization_details`.
 */
export interface OrderView {
  /** "Buy 38 NVDA" */
  headline: string;
  /** "buy 38 NVDA", to follow "wants to" */
  phrase: string;
  side: "BUY" | "SELL";
  rows: Array<{ label: string; value: string; testId: string }>;
}

const usd = (decimal: string) => {
  const cents = parseMoney(decimal);
  return cents === null ? `${decimal} USD` : `${formatUsd(cents).replace("$", "")} USD`;
};

export function describeOrder(order: StockTrade): OrderView {
  const side = order.side === "buy" ? "BUY" : "SELL";
  const shares = `${order.quantity.toLocaleString("en-US")} ${order.quantity === 1 ? "share" : "shares"}`;
  return {
    headline: `${order.side === "buy" ? "Buy" : "Sell"} ${order.quantity.toLocaleString("en-US")} ${order.symbol}`,
    phrase: `${order.side} ${order.quantity.toLocaleString("en-US")} ${order.symbol}`,
    side,
    rows: [
      { label: "Action", value: side, testId: "order-side" },
      { label: "Quantity", value: shares, testId: "order-quantity" },
      { label: "Symbol", value: order.symbol, testId: "order-symbol" },
      { label: "Limit price", value: `${usd(order.limit_price)} per share`, testId: "order-limit-price" },
      { label: "Maximum amount", value: usd(order.max_notional), testId: "order-max-notional" },
      { label: "Order valid until", value: formatInstant(new Date(order.expires_at)), testId: "order-expires-at" },
      { label: "Order id", value: order.order_id, testId: "order-id" },
    ],
  };
}

/** "14:03:22 UTC, 5 May 2026": unambiguous for a reader anywhere. */
export function formatInstant(date: Date): string {
  const time = date.toISOString().slice(11, 19);
  const day = date.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  return `${time} UTC, ${day}`;
}

/** "2 minutes", "45 seconds": the time a request has left, for an email. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  return `${m} minute${m === 1 ? "" : "s"}`;
}

/** Human words for the scopes a request asks for. */
export function describeScopes(scope: string): string[] {
  const words: Record<string, string> = {
    [SCOPE_READ]: "Read market prices and your portfolio",
    [SCOPE_TRADE]: "Place this one trade for you",
  };
  return scope
    .split(" ")
    .filter((s) => s in words)
    .map((s) => words[s]!);
}
