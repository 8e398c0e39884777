import { describe, expect, it } from "vitest";
import { PriceLogThrottle } from "@/lib/agent/price-log";

/** The activity log tells the story, not the tick rate: a price line at most every 10 s, or on a crossing. */
describe("price log throttle", () => {
  it("logs the first check, then at most every 10 s", () => {
    const t = new PriceLogThrottle(10_000);
    expect(t.decide(15000, 14000, 0)).toBe("checked");
    for (let s = 1; s < 10; s++) expect(t.decide(15000 - s, 14000, s * 1000)).toBe("none");
    expect(t.decide(14990, 14000, 10_000)).toBe("checked");
  });

  it("logs a crossing at once, in both directions, and only once", () => {
    const t = new PriceLogThrottle(10_000);
    t.decide(14100, 14000, 0);
    expect(t.decide(13999, 14000, 1000)).toBe("crossed_below");
    expect(t.decide(13900, 14000, 2000)).toBe("none");
    expect(t.decide(14000, 14000, 3000)).toBe("crossed_above");
    expect(t.decide(14050, 14000, 4000)).toBe("none");
  });

  it("does not report a reset as a crossing", () => {
    const t = new PriceLogThrottle(10_000);
    t.decide(13000, 14000, 0);
    t.forgetSide();
    expect(t.decide(15000, 14000, 1000)).toBe("none");
  });
});
