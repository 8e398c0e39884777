import { describe, expect, it } from "vitest";
import { normalizeAuth0Detail, toAuth0AuthorizationDetail } from "../../lib/orders/auth0-rar";
import { StockTradeDetail } from "../../lib/orders/order";
import { approvedOrderFromDetails, checkTradeAgainstOrder, normalizeDetail } from "../../lib/orders/check";
import { stockTradeDetail } from "../helpers/orders";

/**
 * The resource server's order binding for Auth0-shaped authorization_details (Guardian schema):
 * mapped to the canonical stock_trade entry by one named function, then the same strict schema,
 * exact identifiers and decimal money as for every server. Negative cases first.
 */
const ORDER_ID = "ord_K7Q2abcdefghij0123";
const order = StockTradeDetail.parse(stockTradeDetail({ order_id: ORDER_ID, expires_at: "2030-01-01T12:05:00.000Z" }));
const auth0 = (patch: (e: ReturnType<typeof toAuth0AuthorizationDetail>) => void = () => {}) => {
  const entry = toAuth0AuthorizationDetail(order, "stock_trade");
  patch(entry);
  return entry;
};
const opts = { auth0Type: "stock_trade" };

describe("approvedOrderFromDetails with Auth0 entries: refusals", () => {
  it("ignores Auth0 entries when the server is not Auth0 (no auth0Type)", () => {
    expect(approvedOrderFromDetails([auth0()], ORDER_ID)).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("ignores Auth0 entries of another registered type", () => {
    expect(approvedOrderFromDetails([toAuth0AuthorizationDetail(order, "payment")], ORDER_ID, opts)).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it.each([
    ["a missing property", (e: ReturnType<typeof auth0>) => void delete e.properties.max_notional],
    ["an extra property", (e: ReturnType<typeof auth0>) => void (e.properties.note = { display: true, name: "Note", display_order: 8, value: "x" })],
    ["a fractional quantity", (e: ReturnType<typeof auth0>) => void (e.properties.quantity!.value = "38.5")],
    ["a price with three decimals", (e: ReturnType<typeof auth0>) => void (e.properties.limit_price!.value = "131.205")],
    ["a value that is not a string", (e: ReturnType<typeof auth0>) => void ((e.properties.symbol as unknown as { value: unknown }).value = ["NVDA"])],
    ["properties that are not an object", (e: ReturnType<typeof auth0>) => void ((e as unknown as { properties: unknown }).properties = "NVDA x38")],
  ])("refuses %s (invalid_authorization_details)", (_name, patch) => {
    expect(approvedOrderFromDetails([auth0(patch)], ORDER_ID, opts)).toMatchObject({ ok: false, code: "invalid_authorization_details" });
  });

  it("refuses the same order approved twice, in either schema", () => {
    expect(approvedOrderFromDetails([auth0(), order], ORDER_ID, opts)).toMatchObject({ ok: false, code: "invalid_authorization_details" });
  });

  it("compares the order id exactly", () => {
    expect(approvedOrderFromDetails([auth0((e) => void (e.properties.order_id!.value = ORDER_ID.replace("abc", "ABC")))], ORDER_ID, opts)).toMatchObject({ code: "order_not_approved" });
  });

  it("keeps the decimal money rules after mapping: a higher price or quantity is refused", () => {
    const approved = approvedOrderFromDetails([auth0()], ORDER_ID, opts);
    if (!approved.ok) throw new Error(approved.message);
    const now = new Date("2030-01-01T12:00:00Z");
    expect(checkTradeAgainstOrder(approved.order, { orderId: ORDER_ID, symbol: "NVDA", side: "buy", quantity: 39 }, 13000, now)).toMatchObject({ code: "quantity_exceeds_approval" });
    expect(checkTradeAgainstOrder(approved.order, { orderId: ORDER_ID, symbol: "NVDA", side: "buy", quantity: 38 }, 13121, now)).toMatchObject({ code: "price_above_limit" });
  });
});

describe("approvedOrderFromDetails with Auth0 entries: the approved order", () => {
  it("maps Guardian's properties back to the exact order", () => {
    expect(approvedOrderFromDetails([auth0()], ORDER_ID, opts)).toEqual({
      ok: true,
      order: { orderId: ORDER_ID, symbol: "NVDA", side: "buy", quantity: 38, limitPriceCents: 13120, maxNotionalCents: 500000, expiresAt: new Date("2030-01-01T12:05:00.000Z") },
    });
  });

  it("round-trips: normalizeDetail(toAuth0AuthorizationDetail(order)) is the order", () => {
    expect(normalizeDetail(auth0(), "stock_trade")).toEqual(order);
    expect(normalizeAuth0Detail(order, "stock_trade")).toBe(order);
    expect(normalizeDetail(auth0())).toEqual(auth0());
  });
});
