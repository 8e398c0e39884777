import { describe, expect, it } from "vitest";
import { EventBus } from "@/lib/events/bus";
import { MarketSimulator } from "@/lib/market/simulator";
import type { MarketSnapshot } from "@/lib/types";
import { emptyTables, useTestDb } from "../helpers/store";

/**
 * Two simulators on one store, as two instances on one PostgreSQL: `ticker` ticks, `presser`
 * presses crash, reset and stabilize. Events between them are handed over by the test (the
 * relay's part), so that one can arrive late or never.
 */
const db = useTestDb((d) => emptyTables(d));

async function pair() {
  const tickerBus = new EventBus();
  const ticker = new MarketSimulator(db, tickerBus, "NVDA", 15_000, () => 0.5);
  const presser = new MarketSimulator(db, new EventBus(), "NVDA", 15_000, () => 0.5);
  await ticker.load();
  await presser.load();
  const ticks: MarketSnapshot[] = [];
  tickerBus.subscribe("tick", (t) => ticks.push(t));
  return { ticker, presser, ticks };
}

describe("the market on several instances", () => {
  it("skips the ticker's tick once when another instance's crash has not reached it yet, so no stream shows it after a later tick", async () => {
    const { ticker, presser, ticks } = await pair();
    const crash = await presser.crash();
    // The crash's event is still on its way: the ticker writes and publishes nothing.
    expect(await ticker.tick()).toBeUndefined();
    expect(ticks).toEqual([]);
    ticker.follow(crash);
    const next = (await ticker.tick())!;
    expect(next).toMatchObject({ status: "CRASHING" });
    expect(next.priceCents).toBeLessThan(crash.priceCents);
    expect(next.at >= crash.at).toBe(true);
  });

  it("goes on from the stored state at the next tick when the event never comes", async () => {
    const { ticker, presser } = await pair();
    const crash = await presser.crash();
    expect(await ticker.tick()).toBeUndefined();
    const next = (await ticker.tick())!;
    expect(next).toMatchObject({ status: "CRASHING" });
    expect(next.priceCents).toBeLessThan(crash.priceCents);
  });

  it("ticks without a pause when nothing changed elsewhere", async () => {
    const { ticker } = await pair();
    for (let i = 0; i < 3; i++) expect(await ticker.tick()).toMatchObject({ status: "STABLE" });
  });

  it("takes a reset tick that carries an earlier time than a tick before it (stamped before the reset, committed first)", async () => {
    const { ticker, presser } = await pair();
    const crash = await presser.crash();
    ticker.follow(crash);
    ticker.follow({ ...crash, priceCents: crash.priceCents - 150, at: new Date(Date.parse(crash.at) + 60_000).toISOString() });
    const reset = await presser.reset();
    ticker.followReset();
    ticker.follow(reset);
    expect(ticker.snapshot()).toMatchObject({ priceCents: 15_000, status: "STABLE" });
  });

  it("catches up on a change committed elsewhere before its event, and does not show that tick twice when the event comes", async () => {
    const { ticker, presser } = await pair();
    const crash = await presser.crash();
    expect(await ticker.catchUp()).toMatchObject({ priceCents: crash.priceCents, status: "CRASHING" });
    const before = ticker.history().length;
    ticker.follow(crash);
    expect(ticker.history()).toHaveLength(before);
  });
});
