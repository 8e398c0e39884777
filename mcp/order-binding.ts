import { normalizeAuth0Detail } from "../lib/orders/auth0-rar";
import { formatMoney, parseMoney } from "../lib/money";
import { StockTradeDetail, type OrderSide } from "../lib/orders/order";
import { STOCK_TRADE_TYPE } from "../lib/protocol";

/**
 * Order binding: a trade executes only if it matches the order the user approved, field by field,
 * once (RFC 9396 §7: the resource server enforces the authorization details it receives).
 *
 * Two rules feed the same check. Which one applies is the deployment's configuration
 * (`config.auth.binding`), never the shape of the token: a token that merely lacks
 * `authorization_details` must not switch a server to a weaker rule.
 * - "rar": the token must carry `authorization_details`; the entry of type `stock_trade` with the
 *   call's `order_id` is the approved order (approvedOrderFromDetails). A token without them
 *   approves nothing.
 * - "recorded-approval": the identity server cannot issue `authorization_details`; the order comes
 *   from the store, must be approved, and the token must be the one recorded for that approval
 *   (stored-order.ts).
 *
 * Money is compared as integer cents, identifiers exactly; any doubt means no trade.
 */

export type BindingRule = "rar" | "recorded-approval";

export type BindingCode =
  | "invalid_authorization_details"
  | "authorization_details_required"
  | "token_not_bound"
  | "order_not_approved"
  | "order_not_executable"
  | "order_id_mismatch"
  | "order_expired"
  | "symbol_mismatch"
  | "side_mismatch"
  | "quantity_exceeds_approval"
  | "price_above_limit"
  | "price_below_limit"
  | "notional_exceeds_max"
  | "jti_required";

export interface BindingRefusal {
  ok: false;
  code: BindingCode;
  message: string;
}

/** An approved order in integer cents, whichever rule it came from. */
export interface ApprovedOrder {
  orderId: string;
  symbol: string;
  side: OrderSide;
  quantity: number;
  limitPriceCents: number;
  maxNotionalCents: number;
  expiresAt: Date;
}

export interface TradeRequest {
  orderId: string;
  symbol: string;
  side: OrderSide;
  quantity: number;
}

/** A refusal thrown from inside the trade's transaction, which it rolls back. */
export class BindingRefused extends Error {
  constructor(readonly refusal: BindingRefusal) {
    super(refusal.message);
    this.name = "BindingRefused";
  }
}

const refuse = (code: BindingCode, message: string): BindingRefusal => ({ ok: false, code, message });

/**
 * An entry as the canonical `stock_trade` object. Auth0 grants the order in its Guardian schema
 * (`urn:auth0:schemas:authorization-details:v1:<auth0Type>` with `properties.<field>.value`);
 * that entry is mapped field by field, nothing else changes, and the same strict schema and exact
 * comparisons apply to it. Without `auth0Type` (any other server) Auth0-shaped entries are just
 * entries of another type.
 */
export function normalizeDetail(entry: unknown, auth0Type?: string): unknown {
  return auth0Type ? normalizeAuth0Detail(entry, auth0Type) : entry;
}

/**
 * Finds the approved order for `orderId` in a token's `authorization_details`. Entries of other
 * types are ignored (RFC 9396 allows several); a malformed `stock_trade` entry or two entries for
 * the same order make the whole claim unusable.
 */
export function approvedOrderFromDetails(
  details: unknown[],
  orderId: string,
  options: { auth0Type?: string } = {},
): { ok: true; order: ApprovedOrder } | BindingRefusal {
  const entries: StockTradeDetail[] = [];
  for (const raw of details) {
    const entry = normalizeDetail(raw, options.auth0Type);
    if (typeof entry !== "object" || entry === null || (entry as { type?: unknown }).type !== STOCK_TRADE_TYPE) continue;
    const parsed = StockTradeDetail.safeParse(entry);
    if (!parsed.success) {
      return refuse("invalid_authorization_details", "The token's stock_trade authorization details are malformed.");
    }
    entries.push(parsed.data);
  }
  const matching = entries.filter((d) => d.order_id === orderId);
  if (matching.length === 0) return refuse("order_not_approved", `Order ${orderId} is not among the orders this token approves.`);
  if (matching.length > 1) return refuse("invalid_authorization_details", `The token approves order ${orderId} more than once.`);
  const d = matching[0]!;
  const limitPriceCents = parseMoney(d.limit_price);
  const maxNotionalCents = parseMoney(d.max_notional);
  const expiresAt = new Date(d.expires_at);
  if (limitPriceCents === null || maxNotionalCents === null || Number.isNaN(expiresAt.getTime())) {
    return refuse("invalid_authorization_details", "The token's stock_trade authorization details are malformed.");
  }
  return {
    ok: true,
    order: { orderId: d.order_id, symbol: d.symbol, side: d.side, quantity: d.quantity, limitPriceCents, maxNotionalCents, expiresAt },
  };
}

/**
 * Checks one trade against its approved order at the execution price. The quantity may be lower
 * than approved, never higher; a buy must not pay more than the limit, a sell must not get less;
 * the notional (price × quantity) must stay within the approved maximum; the order must not have
 * expired.
 */
export function checkTradeAgainstOrder(
  order: ApprovedOrder,
  trade: TradeRequest,
  priceCents: number,
  now: Date,
): { ok: true } | BindingRefusal {
  if (trade.orderId !== order.orderId) return refuse("order_id_mismatch", `The call names order ${trade.orderId}, the approval is for ${order.orderId}.`);
  if (!(now.getTime() < order.expiresAt.getTime())) {
    return refuse("order_expired", `Order ${order.orderId} expired at ${order.expiresAt.toISOString()}.`);
  }
  if (trade.symbol !== order.symbol) return refuse("symbol_mismatch", `The approved order is for ${order.symbol}, not ${trade.symbol}.`);
  if (trade.side !== order.side) return refuse("side_mismatch", `The approved order is a ${order.side}, not a ${trade.side}.`);
  if (trade.quantity > order.quantity) {
    return refuse("quantity_exceeds_approval", `${trade.quantity} shares requested, ${order.quantity} approved.`);
  }
  if (order.side === "buy" && priceCents > order.limitPriceCents) {
    return refuse("price_above_limit", `The price ${formatMoney(priceCents)} USD is above the approved limit ${formatMoney(order.limitPriceCents)} USD.`);
  }
  if (order.side === "sell" && priceCents < order.limitPriceCents) {
    return refuse("price_below_limit", `The price ${formatMoney(priceCents)} USD is below the approved limit ${formatMoney(order.limitPriceCents)} USD.`);
  }
  const notional = priceCents * trade.quantity;
  if (notional > order.maxNotionalCents) {
    return refuse("notional_exceeds_max", `The trade would be ${formatMoney(notional)} USD, above the approved maximum ${formatMoney(order.maxNotionalCents)} USD.`);
  }
  return { ok: true };
}
