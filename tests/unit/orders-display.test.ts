import { describe, expect, it } from "vitest";
import { describeOrder, formatOrderAmount } from "@/lib/orders/display";

/** How an order reads to a person, the same on the approval page, in the email and on the dashboard. */
const order = {
  order_id: "ord_ABCDEFGHJKLMNPQR2345",
  symbol: "NVDA",
  side: "buy" as const,
  quantity: 1200,
  limit_price: "131.2",
  max_notional: "150000",
  expires_at: "2030-01-01T14:03:22Z",
};

describe("describeOrder", () => {
  it("shows an amount it cannot read as sent, never as a number it made up", () => {
    expect(formatOrderAmount("1e3")).toBe("1e3 USD");
  });

  it("reads a buy: headline, phrase and one row per field, in the approval page's order", () => {
    const view = describeOrder(order);
    expect(view.headline).toBe("Buy 1,200 NVDA");
    expect(view.phrase).toBe("buy 1,200 NVDA");
    expect(view.rows.map((r) => [r.testId, r.value])).toEqual([
      ["order-side", "BUY"],
      ["order-quantity", "1,200 shares"],
      ["order-symbol", "NVDA"],
      ["order-limit-price", "131.20 USD per share"],
      ["order-max-notional", "150,000.00 USD"],
      ["order-expires-at", "14:03:22 UTC, 1 Jan 2030"],
      ["order-id", "ord_ABCDEFGHJKLMNPQR2345"],
    ]);
  });

  it("reads a sell of one share", () => {
    const view = describeOrder({ ...order, side: "sell", quantity: 1 });
    expect(view.headline).toBe("Sell 1 NVDA");
    expect(view.side).toBe("SELL");
    expect(view.rows.find((r) => r.testId === "order-quantity")?.value).toBe("1 share");
  });
});
