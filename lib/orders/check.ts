import { formatMoney, parseMoney } from "../money";
import { normalizeAuth0Detail } from "./auth0-rar";
import { StockTradeDetail, stockTradeEntries, type OrderSide } from "./order";
import { failure, ProtocolError, type Failure } from "../errors";

/**
 * The check of a grant and of a trade against an order. Two questions, asked by two parties on
 * purpose with two different rules:
 *
 * - The agent, holding the token its CIBA request produced, asks "is this grant exactly the
 *   order I asked for?" (grantedMatchesOrder): one `stock_trade` entry, every field identical.
 *   A server that narrowed, widened or swapped the order, or added a second one, gets no trade.
 * - The resource server, receiving a trade call, asks "does this trade stay within an order the
 *   user approved?" (approvedOrderFromDetails, then checkTradeAgainstOrder): the entry with the
 *   call's `order_id`, strictly valid, and the trade no larger, no pricier and no later than it
 *   (RFC 9396 §7: the resource server enforces the authorization details it receives). Entries
 *   for other orders may sit beside it; a smaller quantity is allowed.
 *
 * For the resource server, two rules feed the same trade check. Which one applies is the
 * deployment's configuration (`config.auth.binding`), never the shape of the token: a token that
 * merely lacks `authorization_details` must not switch a server to a weaker rule.
 * - "rar": the token must carry `authorization_details`; the entry of type `stock_trade` with the
 *   call's `order_id` is the approved order (approvedOrderFromDetails). A token without them
 *   approves nothing.
 * - "recorded-approval": the identity server cannot issue `authorization_details`; the order comes
 *   from the store, must be approved, and the token must be the one recorded for that approval
 *   (read in the trade's transaction, lib/store/orders.ts).
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
  | "order_mismatch"
  | "order_expired"
  | "symbol_mismatch"
  | "side_mismatch"
  | "quantity_exceeds_approval"
  | "price_above_limit"
  | "price_below_limit"
  | "notional_exceeds_max"
  | "jti_required";

export interface BindingRefusal extends Failure {
  code: BindingCode;
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

const refuse = (code: BindingCode, message: string): BindingRefusal => ({ ok: false, code, message });

/** A refusal thrown from inside the trade's transaction, which it rolls back (403: the token does not allow this trade). */
export const bindingRefused = (refusal: BindingRefusal) => new ProtocolError(refusal.code, refusal.message, { status: 403 });

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
  for (const entry of stockTradeEntries(details.map((raw) => normalizeDetail(raw, options.auth0Type)))) {
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

const FIELDS = ["type", "order_id", "symbol", "side", "quantity", "limit_price", "max_notional", "expires_at"] as const;

/**
 * The agent's check: whether the granted authorization_details are exactly the order it asked
 * for, one stock_trade entry, every field identical. Anything else (missing, two orders, another
 * quantity, an extra field) means the agent does not trade with that token.
 */
export function grantedMatchesOrder(granted: unknown, order: StockTradeDetail): { ok: true } | Failure {
  const mismatch = (message: string) => failure("order_mismatch", message);
  if (!Array.isArray(granted)) return mismatch("the token carries no authorization_details");
  const trades = stockTradeEntries(granted);
  if (trades.length !== 1) return mismatch(`the token carries ${trades.length} stock_trade entries, expected exactly 1`);
  const entry = trades[0] as Record<string, unknown>;
  const extra = Object.keys(entry).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length) return mismatch(`the granted order has unexpected fields: ${extra.join(", ")}`);
  for (const field of FIELDS) {
    if (entry[field] !== order[field]) return mismatch(`the granted ${field} differs from the order`);
  }
  return { ok: true };
}

/** What the agent asked the resource server to freeze (its mandate-checked proposal). */
export interface ProposedOrder {
  symbol: string;
  side: OrderSide;
  quantity: number;
  limitPriceCents: number;
  /** The most the order may cost (the mandate's budget). */
  maxNotionalCents: number;
  /** The latest expiry the agent accepts (its approval window plus the execution window). */
  latestExpiry: Date;
}

/**
 * The agent's check of a transaction challenge: the resource server must name exactly one
 * `stock_trade` order and nothing else, strictly valid, for the symbol, side, quantity and limit
 * the agent proposed, costing no more than the mandate allows, not yet expired and not valid
 * beyond the approval window the agent asks Alice for. Anything else is not the order the agent's
 * mandate check passed, and the agent does not ask Alice to approve it.
 */
export function challengedMatchesProposal(details: unknown, proposed: ProposedOrder, now: Date): { ok: true; order: StockTradeDetail } | Failure {
  const mismatch = (message: string) => failure("challenge_mismatch", message);
  if (!Array.isArray(details) || details.length !== 1) return mismatch("the broker did not name exactly one authorization_details entry");
  const parsed = StockTradeDetail.safeParse(details[0]);
  if (!parsed.success) return mismatch("the broker named no valid stock_trade order");
  const order = parsed.data;
  if (order.symbol !== proposed.symbol) return mismatch(`the broker named ${order.symbol}, the proposal is for ${proposed.symbol}`);
  if (order.side !== proposed.side) return mismatch(`the broker named a ${order.side}, the proposal is a ${proposed.side}`);
  if (order.quantity !== proposed.quantity) return mismatch(`the broker named ${order.quantity} shares, the proposal is for ${proposed.quantity}`);
  if (parseMoney(order.limit_price) !== proposed.limitPriceCents) {
    return mismatch(`the broker named the limit ${order.limit_price} USD, the proposal's is ${formatMoney(proposed.limitPriceCents)} USD`);
  }
  const maxNotional = parseMoney(order.max_notional);
  if (maxNotional === null || maxNotional > proposed.maxNotionalCents) {
    return mismatch(`the broker named at most ${order.max_notional} USD, the mandate allows ${formatMoney(proposed.maxNotionalCents)} USD`);
  }
  const expires = new Date(order.expires_at).getTime();
  if (!(expires > now.getTime()) || expires > proposed.latestExpiry.getTime()) {
    return mismatch(`the broker's order expires at ${order.expires_at}, outside the approval window`);
  }
  return { ok: true, order };
}
