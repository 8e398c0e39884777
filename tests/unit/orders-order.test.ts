import { describe, expect, it } from "vitest";
import { freezeOrder, limitPriceCents } from "@/lib/orders/freeze";
import { MAX_ORDER_QUANTITY, ORDER_ID_PATTERN, StockTradeDetail, stockTradeDetailProblem } from "@/lib/orders/order";
import { stockTradeDetail } from "../helpers/orders";

/**
 * The one schema of a `stock_trade` order, which the agent freezes with, the identity server
 * validates requests with and the resource server validates tokens with. Negative cases first.
 */
describe("StockTradeDetail: refusals", () => {
  it("refuses unknown fields, missing fields and wrong types, naming the field", () => {
    expect(stockTradeDetailProblem({ ...stockTradeDetail(), note: "x" })).toMatch(/^stock_trade unknown field\(s\) note$/);
    const { quantity: _q, ...noQuantity } = stockTradeDetail();
    expect(stockTradeDetailProblem(noQuantity)).toMatch(/quantity/);
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: "38" }))).toMatch(/quantity/);
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: 2.5 }))).toMatch(/quantity/);
    expect(stockTradeDetailProblem(stockTradeDetail({ limit_price: 131.2 }))).toMatch(/limit_price/);
    expect(stockTradeDetailProblem(stockTradeDetail({ limit_price: "1.234" }))).toMatch(/limit_price/);
    expect(stockTradeDetailProblem(stockTradeDetail({ limit_price: " 1.00" }))).toMatch(/limit_price/);
    expect(stockTradeDetailProblem(stockTradeDetail({ max_notional: "1e3" }))).toMatch(/max_notional/);
    expect(stockTradeDetailProblem(stockTradeDetail({ order_id: "ord_short" }))).toMatch(/order_id/);
    expect(stockTradeDetailProblem(stockTradeDetail({ order_id: "ord_ABCDEFGHJKLMNPQR23!5" }))).toMatch(/order_id/);
    expect(stockTradeDetailProblem(stockTradeDetail({ symbol: "NVDAXX" }))).toMatch(/symbol/);
    expect(stockTradeDetailProblem(stockTradeDetail({ side: "BUY" }))).toMatch(/side/);
    expect(stockTradeDetailProblem(stockTradeDetail({ expires_at: "2030-01-01" }))).toMatch(/expires_at/);
    expect(stockTradeDetailProblem(stockTradeDetail({ type: "other" }))).toMatch(/type/);
    expect(stockTradeDetailProblem("not an object")).toEqual(expect.any(String));
  });

  it("caps the quantity at one million shares", () => {
    expect(MAX_ORDER_QUANTITY).toBe(1_000_000);
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: 1_000_001 }))).toMatch(/^stock_trade quantity: /);
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: 1_000_000_000 }))).toMatch(/quantity/);
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: 0 }))).toMatch(/quantity/);
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: -1 }))).toMatch(/quantity/);
  });

  it.each(["0", "0.00", "0.0", "-1.00", "-0.01"])("refuses a limit price or maximum of %s: money must be positive", (amount) => {
    expect(stockTradeDetailProblem(stockTradeDetail({ limit_price: amount }))).toMatch(/^stock_trade limit_price: limit_price must be a positive decimal/);
    expect(stockTradeDetailProblem(stockTradeDetail({ max_notional: amount }))).toMatch(/^stock_trade max_notional: max_notional must be a positive decimal/);
  });
});

describe("StockTradeDetail: accepted", () => {
  it("accepts the boundaries: one share, one million shares, one cent", () => {
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: 1 }))).toBeUndefined();
    expect(stockTradeDetailProblem(stockTradeDetail({ quantity: 1_000_000 }))).toBeUndefined();
    expect(stockTradeDetailProblem(stockTradeDetail({ limit_price: "0.01", max_notional: "0.01" }))).toBeUndefined();
  });

  it("accepts a time-zone offset and whole amounts", () => {
    expect(stockTradeDetailProblem(stockTradeDetail({ expires_at: "2030-01-01T02:00:00+02:00", side: "sell", limit_price: "5" }))).toBeUndefined();
  });

  it("parses the wire format unchanged", () => {
    expect(StockTradeDetail.parse(stockTradeDetail())).toEqual(stockTradeDetail());
  });

  it("fixes the order id shape", () => {
    expect(ORDER_ID_PATTERN.test("ord_abcdefghij012345")).toBe(true);
    expect(ORDER_ID_PATTERN.test("ord_short")).toBe(false);
    expect(ORDER_ID_PATTERN.test("ord_abcdefghij012345\n")).toBe(false);
    expect(ORDER_ID_PATTERN.test(`ord_${"a".repeat(41)}`)).toBe(false);
  });
});

describe("freezeOrder", () => {
  const order = freezeOrder({ symbol: "NVDA", side: "buy", quantity: 37, limitPriceCents: 13252, maxNotionalCents: 500000, expiresAt: new Date("2030-01-01T00:00:00.750Z") });

  it("freezes the wire form with money as strings and whole-second expiry", () => {
    expect(order).toMatchObject({ type: "stock_trade", symbol: "NVDA", side: "buy", quantity: 37, limit_price: "132.52", max_notional: "5000.00", expires_at: "2030-01-01T00:00:00.000Z" });
    expect(order.order_id).toMatch(/^ord_[A-Za-z0-9]{24}$/);
  });

  it("rounds the limit up to the cent", () => {
    expect(limitPriceCents(13121, 100)).toBe(13253); // 132.5221 → 132.53
    expect(limitPriceCents(10000, 0)).toBe(10000);
  });
});

describe("freezeOrder: refusals", () => {
  const input = { symbol: "NVDA", side: "buy" as const, quantity: 37, limitPriceCents: 13252, maxNotionalCents: 500000, expiresAt: new Date("2030-01-01T00:00:00Z") };

  it("refuses to freeze an order the schema refuses", () => {
    expect(() => freezeOrder({ ...input, quantity: 1_000_001 })).toThrow();
    expect(() => freezeOrder({ ...input, limitPriceCents: 0 })).toThrow();
    expect(() => freezeOrder({ ...input, maxNotionalCents: 0 })).toThrow();
  });
});
