/**
 * When a price check is worth a line in the activity log: at most every PRICE_LOG_INTERVAL_MS,
 * or at once when the price crosses the threshold (either way). The agent checks every tick; the
 * log should tell the story, not the tick rate.
 */
export const PRICE_LOG_INTERVAL_MS = 10_000;

export type PriceSide = "above" | "below";

export class PriceLogThrottle {
  private lastAt = Number.NEGATIVE_INFINITY;
  private lastSide: PriceSide | undefined;

  constructor(private readonly intervalMs = PRICE_LOG_INTERVAL_MS) {}

  /** What to log for this check: nothing, a routine check, or a crossing. */
  decide(priceCents: number, thresholdCents: number, now: number): "none" | "checked" | "crossed_below" | "crossed_above" {
    const side: PriceSide = priceCents < thresholdCents ? "below" : "above";
    const previous = this.lastSide;
    this.lastSide = side;
    if (previous !== undefined && previous !== side) {
      this.lastAt = now;
      return side === "below" ? "crossed_below" : "crossed_above";
    }
    if (now - this.lastAt >= this.intervalMs) {
      this.lastAt = now;
      return "checked";
    }
    return "none";
  }

  /**
   * Forget which side of the threshold the price was on (demo reset, new threshold), so a
   * change is not reported as a crossing. The routine cadence goes on as before.
   */
  forgetSide(): void {
    this.lastSide = undefined;
  }
}
