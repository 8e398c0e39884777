import { createHash } from "node:crypto";
import { BINDING_MESSAGE_PATTERN } from "../orders/binding-message";
import type { StockTradeDetail } from "../orders/order";

export { BINDING_MESSAGE_PATTERN } from "../orders/binding-message";

/**
 * The CIBA binding_message (OpenID CIBA Core §7.1) for an order, derived by code, never by the
 * model: `BUY 38 NVDA max 131.20 USD #K7Q2`. Alice sees it in the email / on the approval page and
 * on the dashboard, and can tell that both show the same request. The `#K7Q2` code is derived
 * from the order id, so two orders with the same numbers still read differently.
 *
 * Only characters every supported server accepts (Auth0 is the strictest): at most 64 letters,
 * digits, spaces and `+-_.,:#` (BINDING_MESSAGE_PATTERN, lib/orders/binding-message.ts).
 */

/** Crockford base32 without I, L, O, U: no code reads as another. */
const CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Four characters derived from the order id (SHA-256, first 20 bits). */
export function orderCode(orderId: string): string {
  const digest = createHash("sha256").update(orderId).digest();
  const bits = (digest[0]! << 12) | (digest[1]! << 4) | (digest[2]! >> 4);
  let code = "";
  for (let i = 3; i >= 0; i--) code += CODE_ALPHABET[(bits >> (i * 5)) & 31];
  return code;
}

export function deriveBindingMessage(order: Pick<StockTradeDetail, "order_id" | "side" | "quantity" | "symbol" | "limit_price">): string {
  const verb = order.side === "buy" ? "BUY" : "SELL";
  const limit = order.side === "buy" ? "max" : "min";
  const message = `${verb} ${order.quantity} ${order.symbol} ${limit} ${order.limit_price} USD #${orderCode(order.order_id)}`;
  if (!BINDING_MESSAGE_PATTERN.test(message)) {
    // Unreachable with a validated order (symbol A-Z, integer quantity, decimal price); refuse
    // rather than send something a server would reject or a person could misread.
    throw new Error("binding message for this order is not representable");
  }
  return message;
}
