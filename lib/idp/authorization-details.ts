import { z } from "zod";
import { parseMoney } from "../money";
import { OrderId, OrderSide, SYMBOL_PATTERN } from "../orders/order";
import { STOCK_TRADE_TYPE } from "../protocol";

/**
 * The one Rich Authorization Request type this server knows (RFC 9396 §2): a frozen stock order
 * (STOCK_TRADE_TYPE, lib/protocol.ts). Validated strictly, because it is exactly what Alice
 * approves and what the resource server later enforces: every field required, the right type, no
 * unknown fields (§5: anything else is `invalid_authorization_details`). Money is refused unless
 * it is positive, and the quantity cap is the server's own.
 */

const positiveDecimal = (field: string) =>
  z.string().refine((v) => (parseMoney(v) ?? 0) > 0 && v.trim() === v, {
    message: `${field} must be a positive decimal string like "131.20"`,
  });

export const StockTradeSchema = z.strictObject({
  type: z.literal(STOCK_TRADE_TYPE),
  order_id: OrderId,
  symbol: z.string().regex(SYMBOL_PATTERN, "symbol must be 1-5 capital letters"),
  side: OrderSide,
  quantity: z.number().int().positive().max(1_000_000_000),
  limit_price: positiveDecimal("limit_price"),
  max_notional: positiveDecimal("max_notional"),
  expires_at: z.iso.datetime({ offset: true, message: "expires_at must be an ISO-8601 date-time like 2030-01-01T00:00:00Z" }),
});

export type StockTrade = z.infer<typeof StockTradeSchema>;

/** Why a `stock_trade` detail is refused, or undefined when it is a valid, unexpired order. */
export function stockTradeProblem(detail: unknown, now = Date.now()): string | undefined {
  const parsed = StockTradeSchema.safeParse(detail);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
    return `stock_trade ${where}${issue.code === "unrecognized_keys" ? `unknown field(s) ${issue.keys.join(", ")}` : issue.message}`;
  }
  if (Date.parse(parsed.data.expires_at) <= now) return "stock_trade expires_at is in the past";
  return undefined;
}

/** The stock orders among granted or requested details (the others are not this server's). */
export function stockTrades(details: unknown): StockTrade[] {
  if (!Array.isArray(details)) return [];
  return details.filter((d): d is StockTrade => StockTradeSchema.safeParse(d).success);
}
