import type { MarketStatus } from "../types";

/**
 * The price model, a pure function of the state and a random source so that tests can drive it.
 * Prices are integer cents; the result is always a positive integer.
 *
 * - STABLE: noise of about ±$0.10 per tick, pulled gently back to the anchor (the price at which
 *   the market last settled), so an idle market neither drifts away nor crosses the threshold.
 * - CRASHING: about −$1 to −$2 per tick with noise, until stabilized or the floor (30% of the
 *   open) is reached, where the market turns to RECOVERING.
 * - RECOVERING: about +$0.50 to +$1.50 per tick until the open is reached, then STABLE again.
 */
export interface ModelState {
  status: MarketStatus;
  priceCents: number;
  openCents: number;
  anchorCents: number;
}

export const MIN_PRICE_CENTS = 1;

export function crashFloorCents(openCents: number): number {
  return Math.max(100, Math.round(openCents * 0.3));
}

export function nextState(state: ModelState, random: () => number = Math.random): ModelState {
  const noise = () => Math.round((random() - 0.5) * 20);
  switch (state.status) {
    case "CRASHING": {
      const floor = crashFloorCents(state.openCents);
      const drop = 100 + Math.round(random() * 100);
      const price = state.priceCents - drop + noise();
      if (price <= floor) return { ...state, status: "RECOVERING", priceCents: Math.max(floor, MIN_PRICE_CENTS) };
      return { ...state, priceCents: price };
    }
    case "RECOVERING": {
      const rise = 50 + Math.round(random() * 100);
      const price = state.priceCents + rise;
      if (price >= state.openCents) {
        return { ...state, status: "STABLE", priceCents: state.openCents, anchorCents: state.openCents };
      }
      return { ...state, priceCents: price };
    }
    case "STABLE": {
      const pull = Math.round((state.anchorCents - state.priceCents) * 0.1);
      return { ...state, priceCents: Math.max(MIN_PRICE_CENTS, state.priceCents + pull + noise()) };
    }
  }
}
