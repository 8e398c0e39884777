import { z } from "zod";
import { MONEY_PATTERN, parseMoney } from "../money";
import { STOCK_TRADE_TYPE } from "../protocol";

/**
 * The order: what the resource server freezes in its transaction challenge, what Alice approves, what the identity server puts into the
 * token (RFC 9396 `authorization_details`) and what the MCP server re-checks before a trade.
 * One schema for the agent, the identity server and the MCP server (lib/orders imports nothing
 * of theirs); the identity server adds only its expiry check (lib/idp/authorization-details.ts).
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

/** The most shares one order may name. */
export const MAX_ORDER_QUANTITY = 1_000_000;

export const OrderId = z.string().regex(ORDER_ID_PATTERN, "order_id must look like ord_ followed by 16-40 letters or digits");
export const OrderSide = z.enum(["buy", "sell"]);
export type OrderSide = z.infer<typeof OrderSide>;

/** A decimal string with at most two places and more than zero: a limit or a maximum of 0 approves nothing sensible. */
export const positiveMoney = (field: string) => {
  const message = `${field} must be a positive decimal string like "131.20"`;
  return z
    .string()
    .regex(MONEY_PATTERN, message)
    .refine((v) => (parseMoney(v) ?? 0) > 0, message);
};

/** One `authorization_details` entry of type `stock_trade`. Unknown fields are refused (RFC 9396 §5). */
export const StockTradeDetail = z.strictObject({
  type: z.literal(STOCK_TRADE_TYPE),
  order_id: OrderId,
  symbol: z.string().regex(SYMBOL_PATTERN, "symbol must be 1-5 capital letters"),
  side: OrderSide,
  quantity: z.number().int().positive().max(MAX_ORDER_QUANTITY),
  limit_price: positiveMoney("limit_price"),
  max_notional: positiveMoney("max_notional"),
  expires_at: z.iso.datetime({ offset: true, message: "expires_at must be an ISO-8601 date-time like 2030-01-01T00:00:00Z" }),
});
export type StockTradeDetail = z.infer<typeof StockTradeDetail>;

/** Why an entry is not a valid `stock_trade` order, in words a client can act on; undefined when it is. */
export function stockTradeDetailProblem(detail: unknown): string | undefined {
  const parsed = StockTradeDetail.safeParse(detail);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
  return `${STOCK_TRADE_TYPE} ${where}${issue.code === "unrecognized_keys" ? `unknown field(s) ${issue.keys.join(", ")}` : issue.message}`;
}

/** The entries of type `stock_trade` among `authorization_details`, valid or not (RFC 9396 allows other types beside them). */
export function stockTradeEntries(details: readonly unknown[]): unknown[] {
  return details.filter((d) => typeof d === "object" && d !== null && (d as { type?: unknown }).type === STOCK_TRADE_TYPE);
}
