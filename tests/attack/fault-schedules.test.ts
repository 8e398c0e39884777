import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { newOrderId } from "@/lib/orders/freeze";
import { executeTrade } from "@/lib/ledger/trades";
import { Coverage } from "./faults/coverage";
import { History } from "./faults/history";
import { checkInvariants } from "./faults/invariants";
import { formatFailure } from "./faults/report";
import { runSchedule } from "./faults/runner";
import { generateSchedule, type Op } from "./faults/schedule";
import { World } from "./faults/world";

/**
 * Seeded fault schedules against the real agent, identity server and broker, in one process
 * (the Jepsen habit: random histories, invariants checked on what the stores hold). Each
 * schedule interleaves market falls and recoveries, Alice approving and denying, approval
 * expiry, identity-server outages, kill -9 of the agent at a random store statement and its
 * restart, concurrent and later replays of the on-behalf-of token, and duplicated CIBA polls
 * (faults/schedule.ts); faults/invariants.ts says what must hold after each.
 *
 *   FAULT_SCHEDULES=2000   how many schedules (default 200, seeds FAULT_FIRST_SEED … +n-1)
 *   FAULT_SEED=17          only that one (a failing schedule prints this command)
 *   FAULT_VERBOSE=1        print every schedule's history, not only the failing ones'
 */
const COUNT = Number(process.env.FAULT_SCHEDULES || 200);
const FIRST = Number(process.env.FAULT_FIRST_SEED || 1);
const SEEDS = process.env.FAULT_SEED ? [Number(process.env.FAULT_SEED)] : Array.from({ length: COUNT }, (_, i) => FIRST + i);

let world: World;
let current: History | undefined;
const coverage = new Coverage();
let startedAt = Date.now();
let cpuAtStart = process.cpuUsage();

beforeAll(async () => {
  // The app's own log goes into the running schedule's history (shown when it fails).
  for (const level of ["log", "info", "warn", "error"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => current?.app(args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ")));
  }
  world = await World.start();
  startedAt = Date.now();
  cpuAtStart = process.cpuUsage();
});

afterAll(async () => {
  vi.restoreAllMocks();
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  const cpu = process.cpuUsage(cpuAtStart);
  const cpuSeconds = ((cpu.user + cpu.system) / 1e6).toFixed(1);
  const megabytes = Math.round(process.memoryUsage().rss / 2 ** 20);
  // Straight to stdout: the summary is shown also when every schedule passed.
  process.stdout.write(`[fault schedules] ${coverage.schedules} schedules in ${seconds} s (${cpuSeconds} s of CPU, ${megabytes} MB resident): ${JSON.stringify(coverage)}\n`);
  await world?.stop();
});

async function run(seed: number, ops: Op[]) {
  current = new History();
  const result = await runSchedule(world, ops, current);
  const violations = await checkInvariants(world.db, world.config, result);
  const report = await formatFailure(world.db, seed, ops, result, violations);
  return { result, violations, report };
}

describe("fault schedule harness", () => {
  it("trades once when Alice approves a fall, and the invariants hold", async () => {
    const { violations, report } = await run(0, [{ op: "fall", priceCents: 13_120 }, { op: "approve", waitMs: 10_000 }, { op: "settle", ms: 10_000 }]);
    expect(violations, report).toEqual([]);
    const trades = await world.db.query<{ order_id: string; user_sub: string; actor_sub: string }>("SELECT order_id, user_sub, actor_sub FROM trades");
    expect(trades, report).toMatchObject([{ user_sub: "alice", actor_sub: "aurelius" }]);
    expect(await world.db.query("SELECT status FROM orders")).toEqual([{ status: "executed" }]);
  });

  it("catches a second trade in one fall that nobody approved, lost records, a ledger that does not add up, a request left pending", async () => {
    const { result } = await run(0, [{ op: "fall", priceCents: 13_120 }, { op: "approve", waitMs: 10_000 }, { op: "settle", ms: 10_000 }]);
    const [order] = await world.db.query<{ order_id: string }>("SELECT order_id FROM trades");
    expect(order).toBeDefined();
    // Written around the broker, the agent and the identity server, as a bug would: the price
    // never recovered after the first trade, a second one executes anyway, and so on.
    await world.db.query("DELETE FROM market_ticks WHERE at > (SELECT min(created_at) FROM trades)");
    await executeTrade(world.db, { userSub: "alice", actorSub: "aurelius", orderId: newOrderId(), symbol: "NVDA", side: "buy", quantity: 3, priceCents: 13_120 });
    await world.db.query("UPDATE portfolios SET cash_cents = cash_cents + 1");
    await world.db.query(
      "INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at) VALUES ('forged', $1, 'forged', 'pending', 1, now(), now())",
      [order!.order_id],
    );
    const found = new Set((await checkInvariants(world.db, world.config, result)).map((v) => v.invariant));
    expect([...found].sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe("fault schedules: invariants over histories", () => {
  it.each(SEEDS)("schedule %i", async (seed) => {
    const ops = generateSchedule(seed);
    const { result, violations, report } = await run(seed, ops);
    const [counts] = await world.db.query<{ trades: number; expired: number }>(
      "SELECT (SELECT count(*)::int FROM trades) AS trades, (SELECT count(*)::int FROM pending_approvals WHERE status = 'expired') AS expired",
    );
    coverage.add(result.history.lines, counts!);
    if (process.env.FAULT_VERBOSE) process.stdout.write(`${report}\n\n`);
    if (violations.length) expect.fail(report);
  });

  if (SEEDS.length >= 100) {
    it("exercised the faults it claims to (trades, kills mid-flow, replays, duplicated polls, expiry)", () => {
      expect(coverage.share(coverage.withTrade)).toBeGreaterThan(0.15);
      expect(coverage.share(coverage.killedMidFlow)).toBeGreaterThan(0.1);
      expect(coverage.share(coverage.replays)).toBeGreaterThan(0.1);
      expect(coverage.killedAtTradeAnswer).toBeGreaterThan(0);
      expect(coverage.duplicatePolls).toBeGreaterThan(0);
      expect(coverage.expiries).toBeGreaterThan(0);
    });
  }
});
