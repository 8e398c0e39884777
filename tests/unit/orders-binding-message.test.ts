import { describe, expect, it } from "vitest";
import { BINDING_MESSAGE_PATTERN, bindingMessageProblem, deriveBindingMessage, orderCode } from "@/lib/orders/binding-message";
import { freezeOrder, newOrderId } from "@/lib/orders/freeze";

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

/** The identity server's acceptance check: the same rule the agent derives within. Negative cases first. */
describe("binding_message", () => {
  it("refuses anything but 1-64 characters of letters, digits, space and +-_.,:#", () => {
    for (const bad of ["", " ", "x".repeat(65), "a<b", "PAY $5", "ünïcode", "tab\there", "line\nbreak", "quote\"", 42]) {
      expect(bindingMessageProblem(bad), String(bad)).toEqual(expect.any(String));
    }
  });

  it("accepts the app's own messages and absence", () => {
    expect(bindingMessageProblem(undefined)).toBeUndefined();
    expect(bindingMessageProblem("BUY 38 NVDA max 131.20 USD #K7Q2")).toBeUndefined();
    expect(bindingMessageProblem("x".repeat(64))).toBeUndefined();
    expect(bindingMessageProblem("a+b-c_d.e,f:g#h 1")).toBeUndefined();
  });
});
