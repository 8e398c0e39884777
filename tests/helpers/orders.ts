import type { CibaRequest } from "@/lib/auth/profiles/types";
import { deriveBindingMessage } from "@/lib/orders/binding-message";
import { freezeOrder } from "@/lib/orders/freeze";

/**
 * Sample orders for tests: one valid `stock_trade` entry as the wire carries it, and a CIBA
 * request for a freshly frozen order. Tests override only the fields they exercise.
 */

/** A valid `stock_trade` authorization_details entry (buy 38 NVDA, limit 131.20, at most 5000.00), `overrides` on top. */
export const stockTradeDetail = (overrides: Record<string, unknown> = {}) => ({
  type: "stock_trade",
  order_id: "ord_ABCDEFGHJKLMNPQR2345",
  symbol: "NVDA",
  side: "buy",
  quantity: 38,
  limit_price: "131.20",
  max_notional: "5000.00",
  expires_at: "2030-01-01T00:00:00Z",
  ...overrides,
});

/** A CIBA request for a newly frozen order (buy `quantity` NVDA, limit 131.20, at most 5000.00, three minutes to run) with its binding message. */
export function sampleCibaRequest(actorToken: string, { quantity = 38, requestedExpirySeconds = 120 } = {}): CibaRequest {
  const order = freezeOrder({ symbol: "NVDA", side: "buy", quantity, limitPriceCents: 13120, maxNotionalCents: 500000, expiresAt: new Date(Date.now() + 180_000) });
  return { order, bindingMessage: deriveBindingMessage(order), actorToken, requestedExpirySeconds };
}
