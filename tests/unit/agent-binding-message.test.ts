import { describe, expect, it } from "vitest";
import { BINDING_MESSAGE_PATTERN, deriveBindingMessage, orderCode } from "@/lib/agent/binding-message";
import { freezeOrder, newOrderId } from "@/lib/agent/order";
import { bindingMessageProblem } from "@/lib/idp/binding-message";

/** The binding message is derived by code from the frozen order, within the strictest server's rules. */
describe("binding message", () => {
  const order = (patch: Partial<Parameters<typeof freezeOrder>[0]> = {}) =>
    freezeOrder({ symbol: "NVDA", side: "buy", quantity: 38, limitPriceCents: 13120, maxNotionalCents: 500000, expiresAt: new Date(Date.now() + 60_000), ...patch });

  it("reads like the order: side, quantity, symbol, limit price, a code from the order id", () => {
    const o = order({ orderId: "ord_AAAAAAAAAAAAAAAAAAAAAAAA" });
    const message = deriveBindingMessage(o);
    expect(message).toBe(`BUY 38 NVDA max 131.20 USD #${orderCode(o.order_id)}`);
    expect(message).toMatch(/^BUY 38 NVDA max 131\.20 USD #[0-9A-HJKMNP-TV-Z]{4}$/);
  });

  it("says min for a sell", () => {
    expect(deriveBindingMessage(order({ side: "sell" }))).toMatch(/^SELL 38 NVDA min 131\.20 USD #/);
  });

  it("derives the code from the order id: stable for one id, different across ids", () => {
    const id = newOrderId();
    expect(orderCode(id)).toBe(orderCode(id));
    const codes = new Set(Array.from({ length: 200 }, () => orderCode(newOrderId())));
    // 20 bits: 200 random ids practically never collide more than a couple of times.
    expect(codes.size).toBeGreaterThan(195);
    for (const c of codes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}$/);
  });

  it("stays within 64 characters of the allowed set for the largest order the schema allows", () => {
    const message = deriveBindingMessage(order({ symbol: "ABCDE", quantity: 1_000_000, limitPriceCents: 999_999_999_999_99 }));
    expect(message.length).toBeLessThanOrEqual(64);
    expect(message).toMatch(BINDING_MESSAGE_PATTERN);
    // The embedded identity server accepts it (it applies the same rule).
    expect(bindingMessageProblem(message)).toBeUndefined();
  });

  it("refuses to derive a message from an order that is not a valid one", () => {
    const bad = { ...order(), symbol: "NV<DA" };
    expect(() => deriveBindingMessage(bad)).toThrow(/not representable/);
  });
});
