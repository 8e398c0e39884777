import { BINDING_MESSAGE_MAX_LENGTH, BINDING_MESSAGE_PATTERN } from "../orders/binding-message";

/**
 * CIBA `binding_message` (OpenID CIBA Core §7.1): a short text shown on both devices so that the
 * user can tell that the request she approves is the one the client started. We accept the set
 * that every identity server the app supports accepts (BINDING_MESSAGE_PATTERN,
 * lib/orders/binding-message.ts): at most 64 characters of letters, digits, space and `+-_.,:#`.
 */

/** Why a binding message is refused, or undefined when it is acceptable (absent is acceptable). */
export function bindingMessageProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") return "binding_message must be a string";
  if (value.trim() === "") return "binding_message must not be blank";
  if (!BINDING_MESSAGE_PATTERN.test(value)) {
    return `binding_message must be 1-${BINDING_MESSAGE_MAX_LENGTH} characters of letters, digits, space and + - _ . , : #`;
  }
  return undefined;
}
