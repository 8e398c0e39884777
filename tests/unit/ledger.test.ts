import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ActivityLog } from "@/lib/events/activity";
import { EventBus } from "@/lib/events/bus";
import { ensurePortfolio, getPortfolio } from "@/lib/ledger/portfolio";
import { executeTrade, isLedgerRefusal, listTrades, type TradeInput } from "@/lib/ledger/trades";
import type { Db } from "@/lib/store/db";
import { openTestDb } from "../helpers/store";

const ALICE = "alice";
const buy = (over: Partial<TradeInput> = {}): TradeInput => ({
  userSub: ALICE,
  actorSub: "aurelius",
  actorChain: { sub: "aurelius" },
  orderId: "ord_AAAAAAAAAAAAAAAA",
  tokenJti: "jti-1",
  symbol: "NVDA",
  side: "buy",
  quantity: 38,
  priceCents: 13000,
  ...over,
});

async function snapshot(db: Db) {
  return {
    portfolio: await getPortfolio(db, ALICE, () => 13000),
    trades: await listTrades(db),
  };
}

describe("ledger", () => {
  let db: Db;
  beforeAll(async () => {
    db = await openTestDb();
  });
  beforeEach(async () => {
    await db.query("TRUNCATE trades, spent_authorizations, holdings, portfolios RESTART IDENTITY CASCADE");
    await ensurePortfolio(db, ALICE, "Alice", 1_000_000);
  });
  afterAll(async () => db.close());

  it("refuses a buy beyond the cash and changes nothing", async () => {
    const before = await snapshot(db);
    await expect(executeTrade(db, buy({ quantity: 100, priceCents: 15000 }))).rejects.toMatchObject({ code: "insufficient_funds" });
    expect(await snapshot(db)).toEqual(before);
  });

  it("refuses a trade for a user without a portfolio", async () => {
    await expect(executeTrade(db, buy({ userSub: "aurelius" }))).rejects.toMatchObject({ code: "no_portfolio" });
    expect(await listTrades(db)).toEqual([]);
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses quantity %s", async (quantity) => {
    await expect(executeTrade(db, buy({ quantity })).catch((e: unknown) => isLedgerRefusal(e))).resolves.toBe(true);
    expect(await listTrades(db)).toEqual([]);
  });

  it("refuses selling shares not held", async () => {
    await expect(executeTrade(db, buy({ side: "sell", quantity: 1 }))).rejects.toMatchObject({ code: "insufficient_shares" });
  });

  it("buys: cash and holding change together, attributed to sub with the actor", async () => {
    const trade = await executeTrade(db, buy());
    expect(trade).toMatchObject({ userSub: ALICE, actorSub: "aurelius", quantity: 38, priceCents: 13000, notionalCents: 494000 });
    const portfolio = await getPortfolio(db, ALICE, () => 12000);
    expect(portfolio).toMatchObject({ cashCents: 506000, holdingsValueCents: 456000, totalValueCents: 962000, pnlCents: -38000 });
    expect(portfolio!.holdings[0]).toMatchObject({ symbol: "NVDA", quantity: 38, averageCostCents: 13000 });
  });

  it("sells at the average cost basis", async () => {
    await executeTrade(db, buy({ quantity: 10, priceCents: 10000 }));
    await executeTrade(db, buy({ quantity: 10, priceCents: 12000, orderId: "ord_BBBBBBBBBBBBBBBB", tokenJti: "jti-2" }));
    await executeTrade(db, buy({ side: "sell", quantity: 5, priceCents: 13000, orderId: "ord_CCCCCCCCCCCCCCCC", tokenJti: "jti-3" }));
    const portfolio = await getPortfolio(db, ALICE, () => 13000);
    expect(portfolio!.holdings[0]).toMatchObject({ quantity: 15, averageCostCents: 11000, costCents: 165000 });
    expect(portfolio!.cashCents).toBe(1_000_000 - 100000 - 120000 + 65000);
  });

  it("executes an order id or a token id at most once", async () => {
    await executeTrade(db, buy());
    await expect(executeTrade(db, buy({ tokenJti: "other" }))).rejects.toMatchObject({ code: "already_executed" });
    await expect(executeTrade(db, buy({ orderId: "ord_DDDDDDDDDDDDDDDD" }))).rejects.toMatchObject({ code: "already_executed" });
    expect(await listTrades(db)).toHaveLength(1);
  });

  it("executes exactly one of 20 concurrent identical trades", async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => executeTrade(db, buy())));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((await getPortfolio(db, ALICE, () => 13000))!.cashCents).toBe(1_000_000 - 494000);
  });

  it("rolls the whole trade back when the same-transaction step fails", async () => {
    const before = await snapshot(db);
    await expect(
      executeTrade(db, buy(), {
        after: async () => {
          throw new Error("audit write failed");
        },
      }),
    ).rejects.toThrow("audit write failed");
    expect(await snapshot(db)).toEqual(before);
  });
});

describe("persistence", () => {
  it("keeps the portfolio, trades and activity log across a restart", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-ledger-"));
    const first = await openTestDb(dir);
    await ensurePortfolio(first, ALICE, "Alice", 1_000_000);
    await executeTrade(first, buy());
    await new ActivityLog(first, new EventBus()).add({ level: "success", kind: "test", message: "trade executed" });
    await first.close();

    const second = await openTestDb(dir);
    expect((await getPortfolio(second, ALICE, () => 13000))!.cashCents).toBe(506000);
    expect(await listTrades(second)).toHaveLength(1);
    expect((await new ActivityLog(second, new EventBus()).list())[0]).toMatchObject({ kind: "test", message: "trade executed" });
    await second.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("activity log retention", () => {
  it("keeps the newest entries and drops the oldest as it grows", async () => {
    const db = await openTestDb();
    const log = new ActivityLog(db, new EventBus(), 150);
    for (let i = 0; i < 400; i++) await log.add({ level: "debug", kind: "test", message: `entry ${i}` });
    const [{ count }] = (await db.query<{ count: number }>("SELECT count(*)::int AS count FROM activity_log")) as [{ count: number }];
    expect(count).toBeGreaterThanOrEqual(150);
    expect(count).toBeLessThanOrEqual(250);
    expect((await log.list(1))[0]!.message).toBe("entry 399");
    await db.close();
  });

  it("keeps each investor's entries: another investor's busy agent does not push hers out", async () => {
    const db = await openTestDb();
    const market = new ActivityLog(db, new EventBus(), 20);
    const alice = market.forInvestor("alice");
    const bob = market.forInvestor("bob");
    for (let i = 0; i < 5; i++) await alice.add({ level: "info", kind: "test", message: `alice ${i}` });
    await market.add({ level: "warn", kind: "market.crash", message: "crash" });
    for (let i = 0; i < 400; i++) await bob.add({ level: "debug", kind: "test", message: `bob ${i}` });
    const mine = (await alice.list(100)).map((e) => e.message);
    expect(mine).toEqual(["crash", "alice 4", "alice 3", "alice 2", "alice 1", "alice 0"]);
    const [{ count }] = (await db.query<{ count: number }>("SELECT count(*)::int AS count FROM activity_log WHERE user_sub = 'bob'")) as [{ count: number }];
    expect(count).toBeGreaterThanOrEqual(20);
    expect(count).toBeLessThanOrEqual(120);
    expect((await bob.list(1))[0]!.message).toBe("bob 399");
    await db.close();
  });
});
