import { randomInt } from "node:crypto";
import { formatMoney } from "../money";
import { StockTradeDetail } from "../orders/order";
import { STOCK_TRADE_TYPE } from "../protocol";

/**
 * Freezing an order: the exact object Alice approves (RFC 9396 authorization_details entry), the
 * identity server puts into the OBO token, and the MCP server re-checks before the trade.
 */
const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ID_LENGTH = 24; // 24 × log2(62) ≈ 143 bits: unguessable

export function newOrderId(): string {
  let id = "ord_";
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/**
 * limit_price = price + tolerance, rounded up to the cent. The tolerance (1 % by default,
 * AGENT_LIMIT_TOLERANCE_PERCENT) lets the order still fill when the price ticks up a little
 * between the approval and the trade; above the limit the MCP server refuses it.
 */
export function limitPriceCents(priceCents: number, toleranceBps: number): number {
  return Math.ceil((priceCents * (10_000 + toleranceBps)) / 10_000);
}

export interface FreezeInput {
  symbol: string;
  side: "buy" | "sell";
  quantity: number;
  limitPriceCents: number;
  maxNotionalCents: number;
  expiresAt: Date;
  orderId?: string;
}

/** The wire form of a frozen order, validated against the shared schema (lib/orders). */
export function freezeOrder(input: FreezeInput): StockTradeDetail {
  return StockTradeDetail.parse({
    type: STOCK_TRADE_TYPE,
    order_id: input.orderId ?? newOrderId(),
    symbol: input.symbol,
    side: input.side,
    quantity: input.quantity,
    limit_price: formatMoney(input.limitPriceCents),
    max_notional: formatMoney(input.maxNotionalCents),
    // Whole seconds: what Alice reads and what every server compares is one exact string.
    expires_at: new Date(Math.floor(input.expiresAt.getTime() / 1000) * 1000).toISOString(),
  });
}

const FIELDS = ["type", "order_id", "symbol", "side", "quantity", "limit_price", "max_notional", "expires_at"] as const;

/**
 * Whether the granted authorization_details are exactly the order the agent asked for: one
 * stock_trade entry, every field identical. Anything else (missing, two orders, another
 * quantity, an extra field) means the agent does not trade with that token.
 */
export function grantedMatchesOrder(granted: unknown, order: StockTradeDetail): { ok: true } | { ok: false; reason: string } {
  if (!Array.isArray(granted)) return { ok: false, reason: "the token carries no authorization_details" };
  const trades = granted.filter((d) => typeof d === "object" && d !== null && (d as { type?: unknown }).type === STOCK_TRADE_TYPE);
  if (trades.length !== 1) return { ok: false, reason: `the token carries ${trades.length} stock_trade entries, expected exactly 1` };
  const entry = trades[0] as Record<string, unknown>;
  const extra = Object.keys(entry).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length) return { ok: false, reason: `the granted order has unexpected fields: ${extra.join(", ")}` };
  for (const field of FIELDS) {
    if (entry[field] !== order[field]) return { ok: false, reason: `the granted ${field} differs from the order` };
  }
  return { ok: true };
}
