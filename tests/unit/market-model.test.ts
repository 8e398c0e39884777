import { describe, expect, it } from "vitest";
import { crashFloorCents, nextState, type ModelState } from "@/lib/market/model";

/** A deterministic random source (mulberry32) so failures reproduce. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const start: ModelState = { status: "STABLE", priceCents: 15000, openCents: 15000, anchorCents: 15000 };

describe("market model", () => {
  it("crashes by about 1 to 2 dollars a tick", () => {
    const random = seeded(1);
    let state: ModelState = { ...start, status: "CRASHING" };
    for (let i = 0; i < 20; i++) {
      const next = nextState(state, random);
      const drop = state.priceCents - next.priceCents;
      expect(drop).toBeGreaterThanOrEqual(90);
      expect(drop).toBeLessThanOrEqual(210);
      state = next;
    }
    expect(state.status).toBe("CRASHING");
  });

  it("turns to RECOVERING at the floor and back to STABLE at the open", () => {
    const random = seeded(2);
    let state: ModelState = { ...start, status: "CRASHING" };
    const seen = new Set<string>();
    for (let i = 0; i < 1000 && !(seen.has("RECOVERING") && state.status === "STABLE"); i++) {
      state = nextState(state, random);
      seen.add(state.status);
      expect(state.priceCents).toBeGreaterThanOrEqual(crashFloorCents(start.openCents));
    }
    expect(seen.has("RECOVERING")).toBe(true);
    expect(state).toMatchObject({ status: "STABLE", priceCents: 15000 });
  });

  it("keeps a stable market near its anchor", () => {
    const random = seeded(3);
    let state = start;
    for (let i = 0; i < 3600; i++) state = nextState(state, random);
    expect(Math.abs(state.priceCents - 15000)).toBeLessThan(100);
  });

  it("never produces a negative, zero, fractional or NaN price, even from tiny prices and hostile randomness", () => {
    for (const random of [() => 0, () => 0.999999, () => 0.5, seeded(4)]) {
      for (const status of ["STABLE", "CRASHING", "RECOVERING"] as const) {
        let state: ModelState = { status, priceCents: 1, openCents: 200, anchorCents: 1 };
        for (let i = 0; i < 500; i++) {
          state = nextState(state, random);
          expect(Number.isSafeInteger(state.priceCents)).toBe(true);
          expect(state.priceCents).toBeGreaterThan(0);
        }
      }
    }
  });
});
