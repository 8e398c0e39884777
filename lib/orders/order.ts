import { z } from "zod";
import { MONEY_PATTERN } from "../money";
import { STOCK_TRADE_TYPE } from "../protocol";

/**
 * The order: what the agent freezes, what Alice approves, what the identity server puts into the
 * token (RFC 9396 `authorization_details`) and what the MCP server re-checks before a trade.
 * One definition shared by lib/agent, lib/idp and mcp/ (this module imports nothing of theirs).
 *
 * Wire format (https://www.rfc-editor.org/rfc/rfc9396#section-2):
 *   { type: "stock_trade", order_id, symbol, side: "buy"|"sell", quantity: integer,
 *     limit_price: "131.20", max_notional: "5000.00", expires_at: ISO-8601 }
 * Money travels as a decimal string and is compared as integer cents (lib/money.ts parseMoney),
 * never as a binary float; identifiers are compared exactly.
 */

/**
 * Order ids: a fixed prefix and 16-40 letters/digits. The fixed shape keeps ids out of every
 * injection class (no spaces, quotes, separators) and makes a guessed id useless without approval.
 */
export const ORDER_ID_PATTERN = /^ord_[A-Za-z0-9]{16,40}$/;

/** Ticker symbols as the config allows them. */
export const SYMBOL_PATTERN = /^[A-Z]{1,5}$/;

export const OrderId = z.string().regex(ORDER_ID_PATTERN, "order_id must look like ord_ followed by 16-40 letters or digits");
export const OrderSide = z.enum(["buy", "sell"]);
export type OrderSide = z.infer<typeof OrderSide>;

const Money = z.string().regex(MONEY_PATTERN, "amounts are decimal strings like 131.20");

/** One `authorization_details` entry of type `stock_trade`. Unknown fields are refused (RFC 9396 §5). */
export const StockTradeDetail = z.strictObject({
  type: z.literal(STOCK_TRADE_TYPE),
  order_id: OrderId,
  symbol: z.string().regex(SYMBOL_PATTERN),
  side: OrderSide,
  quantity: z.number().int().positive().max(1_000_000),
  limit_price: Money,
  max_notional: Money,
  expires_at: z.iso.datetime({ offset: true }),
});
export type StockTradeDetail = z.infer<typeof StockTradeDetail>;
