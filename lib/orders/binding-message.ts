import { createHash } from "node:crypto";
import type { StockTradeDetail } from "./order";

/**
 * The CIBA `binding_message` (OpenID CIBA Core §7.1): a short text shown on both devices so that
 * the user can tell that the request she approves is the one the client started. The agent
 * derives it from the order, by code, never by the model (deriveBindingMessage); the embedded
 * identity server checks what clients send (bindingMessageProblem). Both use one rule: the set
 * every identity server the app supports accepts (Auth0 is the strictest), at most 64 characters
 * of letters, digits, space and `+-_.,:#`. That set also keeps the message inert in HTML, mail
 * headers and logs.
 */
export const BINDING_MESSAGE_MAX_LENGTH = 64;

/** `/^[A-Za-z0-9 +\-_.,:#]{1,64}$/` */
export const BINDING_MESSAGE_PATTERN = new RegExp(`^[A-Za-z0-9 +\\-_.,:#]{1,${BINDING_MESSAGE_MAX_LENGTH}}$`);

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

/**
 * `BUY 38 NVDA max 131.20 USD #K7Q2`. Alice sees it in the email / on the approval page and on
 * the dashboard, and can tell that both show the same request. The `#K7Q2` code is derived from
 * the order id, so two orders with the same numbers still read differently.
 */
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

/** Why a binding message a client sent is refused, or undefined when it is acceptable (absent is acceptable). */
export function bindingMessageProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") return "binding_message must be a string";
  if (value.trim() === "") return "binding_message must not be blank";
  if (!BINDING_MESSAGE_PATTERN.test(value)) {
    return `binding_message must be 1-${BINDING_MESSAGE_MAX_LENGTH} characters of letters, digits, space and + - _ . , : #`;
  }
  return undefined;
}
