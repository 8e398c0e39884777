import { describe, expect, it } from "vitest";
import { approvedOrderFromDetails, checkTradeAgainstOrder, grantedMatchesOrder, type ApprovedOrder, type TradeRequest } from "../../lib/orders/check";
import { freezeOrder } from "../../lib/orders/freeze";
import { stockTradeDetail } from "../helpers/orders";

/**
 * The check of a grant and of a trade against an order: the resource server's (the trade stays
 * within the approved order) and the agent's (the grant is exactly the order it asked for).
 * Negative cases first.
 */
const NOW = new Date("2030-01-01T12:00:00Z");
const ORDER_ID = "ord_K7Q2abcdefghij0123";

const detail = (patch: Record<string, unknown> = {}) => stockTradeDetail({ order_id: ORDER_ID, expires_at: "2030-01-01T12:05:00Z", ...patch });

const order: ApprovedOrder = {
  orderId: ORDER_ID,
  symbol: "NVDA",
  side: "buy",
  quantity: 38,
  limitPriceCents: 13120,
  maxNotionalCents: 500000,
  expiresAt: new Date("2030-01-01T12:05:00Z"),
};
const trade = (patch: Partial<TradeRequest> = {}): TradeRequest => ({ orderId: ORDER_ID, symbol: "NVDA", side: "buy", quantity: 38, ...patch });

describe("approvedOrderFromDetails: refusals", () => {
  it("refuses when no entry names the order (order_not_approved)", () => {
    expect(approvedOrderFromDetails([], ORDER_ID)).toMatchObject({ ok: false, code: "order_not_approved" });
    expect(approvedOrderFromDetails([detail({ order_id: "ord_OTHERabcdefghij0123" })], ORDER_ID)).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("compares order ids exactly: case and whitespace matter", () => {
    expect(approvedOrderFromDetails([detail({ order_id: ORDER_ID.replace("abc", "ABC") })], ORDER_ID)).toMatchObject({ code: "order_not_approved" });
    expect(approvedOrderFromDetails([detail()], ` ${ORDER_ID}`)).toMatchObject({ code: "order_not_approved" });
  });

  it.each([
    ["a float price", { limit_price: 131.2 }],
    ["a negative price", { limit_price: "-1.00" }],
    ["three decimals", { max_notional: "5000.001" }],
    ["an exponent", { limit_price: "1e3" }],
    ["a fractional quantity", { quantity: 1.5 }],
    ["a quantity as string", { quantity: "38" }],
    ["an unknown side", { side: "short" }],
    ["a bad date", { expires_at: "tomorrow" }],
    ["an unknown field", { note: "please" }],
    ["a malformed order id", { order_id: "ord_../../x" }],
  ])("refuses a stock_trade entry with %s (invalid_authorization_details)", (_name, patch) => {
    expect(approvedOrderFromDetails([detail(patch)], ORDER_ID)).toMatchObject({ ok: false, code: "invalid_authorization_details" });
  });

  it("refuses two entries for the same order (ambiguous)", () => {
    expect(approvedOrderFromDetails([detail(), detail({ quantity: 1 })], ORDER_ID)).toMatchObject({ ok: false, code: "invalid_authorization_details" });
  });

  it("ignores entries of other types and non-objects", () => {
    const result = approvedOrderFromDetails([{ type: "payment_initiation", amount: 1 }, "x", null, detail()], ORDER_ID);
    expect(result).toMatchObject({ ok: true, order });
  });

  it("converts money strings to integer cents", () => {
    expect(approvedOrderFromDetails([detail({ limit_price: "131.2", max_notional: "5000" })], ORDER_ID)).toMatchObject({
      ok: true,
      order: { limitPriceCents: 13120, maxNotionalCents: 500000 },
    });
  });
});

describe("checkTradeAgainstOrder: refusals", () => {
  it.each([
    ["another order id", trade({ orderId: "ord_OTHERabcdefghij0123" }), 13000, NOW, "order_id_mismatch"],
    ["an expired order", trade(), 13000, new Date("2030-01-01T12:05:00Z"), "order_expired"],
    ["another symbol", trade({ symbol: "AAPL" }), 13000, NOW, "symbol_mismatch"],
    ["the other side", trade({ side: "sell" }), 13000, NOW, "side_mismatch"],
    ["more shares", trade({ quantity: 39 }), 13000, NOW, "quantity_exceeds_approval"],
    ["a price one cent above the limit", trade(), 13121, NOW, "price_above_limit"],
  ])("refuses %s", (_name, request, price, now, code) => {
    expect(checkTradeAgainstOrder(order, request, price, now)).toMatchObject({ ok: false, code });
  });

  it("refuses a notional above the maximum even within the limit price", () => {
    const small = { ...order, maxNotionalCents: 13120 * 38 - 1 };
    expect(checkTradeAgainstOrder(small, trade(), 13120, NOW)).toMatchObject({ ok: false, code: "notional_exceeds_max" });
  });

  it("refuses a sell below its limit", () => {
    const sell = { ...order, side: "sell" as const };
    expect(checkTradeAgainstOrder(sell, trade({ side: "sell" }), 13119, NOW)).toMatchObject({ ok: false, code: "price_below_limit" });
  });
});

describe("checkTradeAgainstOrder: allowed", () => {
  it("allows the exact order at the limit price, and fewer shares", () => {
    expect(checkTradeAgainstOrder(order, trade(), 13120, NOW)).toEqual({ ok: true });
    expect(checkTradeAgainstOrder(order, trade({ quantity: 1 }), 10000, NOW)).toEqual({ ok: true });
  });

  it("allows a sell at or above its limit", () => {
    const sell = { ...order, side: "sell" as const };
    expect(checkTradeAgainstOrder(sell, trade({ side: "sell" }), 13120, NOW)).toEqual({ ok: true });
    expect(checkTradeAgainstOrder(sell, trade({ side: "sell", quantity: 10 }), 20000, NOW)).toEqual({ ok: true });
  });
});

describe("approvedOrderFromDetails: the one order schema", () => {
  it.each([
    ["a zero limit price", { limit_price: "0.00" }],
    ["a zero maximum", { max_notional: "0" }],
    ["a quantity above the cap", { quantity: 1_000_001 }],
  ])("refuses a stock_trade entry with %s (invalid_authorization_details)", (_name, patch) => {
    expect(approvedOrderFromDetails([detail(patch)], ORDER_ID)).toMatchObject({ ok: false, code: "invalid_authorization_details" });
  });

  it("accepts the largest quantity the schema allows", () => {
    expect(approvedOrderFromDetails([detail({ quantity: 1_000_000 })], ORDER_ID)).toMatchObject({ ok: true, order: { quantity: 1_000_000 } });
  });
});

describe("grantedMatchesOrder: the agent's check of the grant", () => {
  const order = freezeOrder({ symbol: "NVDA", side: "buy", quantity: 37, limitPriceCents: 13252, maxNotionalCents: 500000, expiresAt: new Date("2030-01-01T00:00:00.750Z") });

  it.each<[string, unknown]>([
    ["nothing", undefined],
    ["an empty list", []],
    ["another quantity", [{ ...order, quantity: 38 }]],
    ["a smaller quantity (the resource server would allow it; the agent asked for this exact order)", [{ ...order, quantity: 36 }]],
    ["another order id", [{ ...order, order_id: "ord_BBBBBBBBBBBBBBBBBBBBBBBB" }]],
    ["a higher limit", [{ ...order, limit_price: "132.53" }]],
    ["a number instead of a string", [{ ...order, max_notional: 5000 }]],
    ["a later expiry", [{ ...order, expires_at: "2030-01-01T00:00:01.000Z" }]],
    ["two orders", [{ ...order }, { ...order }]],
    ["an extra field", [{ ...order, note: "x" }]],
  ])("refuses %s", (_what, granted) => {
    expect(grantedMatchesOrder(granted, order).ok).toBe(false);
  });

  it("accepts exactly the order", () => {
    expect(grantedMatchesOrder([{ ...order }], order)).toEqual({ ok: true });
    expect(grantedMatchesOrder([{ type: "other", x: 1 }, { ...order }], order)).toEqual({ ok: true });
  });
});
