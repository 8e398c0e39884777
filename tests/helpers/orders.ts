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

/**
 * The broker's transaction challenge as a fake broker answers it: the order frozen from the call
 * (mcp/transaction-challenge.ts freezes the same way: the call's limit, limit × quantity, the
 * approval window plus one minute), with an id of the broker's.
 */
export function challengeFor(
  side: "buy" | "sell",
  args: { symbol: string; quantity: number; limit_price?: string },
  { approvalExpirySeconds = 120, now = Date.now() } = {},
): { kind: "authorization_required"; authorizationDetails: unknown[]; scope: string; description: string } {
  const limit = Math.round(Number(args.limit_price ?? "131.20") * 100);
  const order = freezeOrder({
    symbol: args.symbol,
    side,
    quantity: args.quantity,
    limitPriceCents: limit,
    maxNotionalCents: limit * args.quantity,
    expiresAt: new Date(now + (approvalExpirySeconds + 60) * 1000),
  });
  return { kind: "authorization_required", authorizationDetails: [order], scope: "stock:trade", description: `The ${side}_stock tool requires approval of order ${order.order_id}` };
}
