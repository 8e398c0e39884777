import { randomInt } from "node:crypto";
import { formatMoney } from "../money";
import { STOCK_TRADE_TYPE } from "../protocol";
import { StockTradeDetail } from "./order";

/**
 * Freezing an order: the exact object Alice approves (RFC 9396 authorization_details entry), the
 * identity server puts into the OBO token, and the MCP server re-checks before the trade. The MCP
 * server freezes it when it challenges a trade (mcp/transaction-challenge.ts); code, not the model,
 * fills every field.
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

/** The wire form of a frozen order, validated against the one schema (order.ts). */
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
