/**
 * Several instances on one PostgreSQL, over real HTTP against the built app: three instances of
 * the app (tests/helpers/cluster.ts: a throwaway PostgreSQL from Debian's binaries, a loopback
 * load balancer as the public URL), one crash, one investor.
 *
 *   - ticks per second written to market_ticks (one ticker's rate expected, MARKET_TICK_MS=1000);
 *   - approvals asked and trades executed after Alice approves, approval → trade (ms);
 *   - failover: kill -9 of the busiest instance (the one that leads the ticker and runs the
 *     agent), then the time until another instance leads the ticker and runs the agent (as its
 *     /api/health says, polled every 25 ms), and the gap in the stored tick series.
 *
 * The 100-investor run of the plan needs several investors (each with her own agent), which the
 * app does not have yet: this measures one investor's agent.
 *
 *   npx tsx bench/scale.ts        (build first: npm test, or NEXT_DIST_DIR=.next-test npx next build)
 */
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { agentOf, press, waitUntil } from "../tests/helpers/agent-app";
import { Alice } from "../tests/helpers/agent-alice";
import { startCluster, type Cluster } from "../tests/helpers/cluster";

const PASSWORD = "bench-alice-password";
const FAILOVERS = Number(process.env.BENCH_FAILOVERS ?? 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The benchmark reads the store directly (lib/store is server-only). */
interface Store {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

async function main() {
  const dist = process.env.TEST_DIST_DIR || ".next-test";
  if (!fs.existsSync(path.join(__dirname, "..", dist, "BUILD_ID"))) {
    throw new Error(`No build in ${dist}: build first (NEXT_DIST_DIR=${dist} npx next build) or set TEST_DIST_DIR.`);
  }
  const cluster = await startCluster(3, { PRICE_THRESHOLD: "148.00", CIBA_INTERVAL_SECONDS: "2", INVESTOR_PASSWORD: PASSWORD });
  const pool = new pg.Pool({ connectionString: cluster.pg.url, max: 2 });
  const db: Store = { query: async (sql, params) => (await pool.query(sql, params)).rows, close: () => pool.end() };
  const alice = new Alice(cluster.lb.url, "alice@example.com", PASSWORD);
  const maxTick = async () => Number((await db.query<{ id: string | null }>("SELECT max(id) AS id FROM market_ticks"))[0]!.id ?? 0);
  try {
    const t0 = await maxTick();
    const s0 = Date.now();
    await sleep(10_000);
    const ticksPerSecond = ((await maxTick()) - t0) / ((Date.now() - s0) / 1000);

    await press(cluster.apps[1]!.url, "/api/market/crash");
    const mail = await alice.waitForApprovalMail([], 60_000);
    await press(cluster.apps[2]!.url, "/api/market/stabilize");
    const { app: owner } = await busiest(cluster);
    const approvedAt = Date.now();
    await alice.decide(mail.approve, "approve");
    await waitUntil(() => agentOf(owner.url), (a) => a.state === "DONE", 30_000, "the trade");
    const approvalToTrade = Date.now() - approvedAt;
    const approvals = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pending_approvals"))[0]!.n;
    const trades = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM trades"))[0]!.n;

    const failovers: Array<{ ticker: number; victimLed: boolean; agent: number; tickGap: number }> = [];
    for (let i = 0; i < FAILOVERS; i++) failovers.push(await failover(cluster, maxTick, db));

    console.log("\nbench/scale.ts: 3 instances, one PostgreSQL, one investor");
    console.log(`  ticks per second in market_ticks (MARKET_TICK_MS=1000): ${ticksPerSecond.toFixed(2)}`);
    console.log(`  approvals asked: ${approvals}, trades executed after the approval: ${trades}`);
    console.log(`  approval → trade (CIBA interval 2 s): ${approvalToTrade} ms`);
    for (const [i, f] of failovers.entries()) {
      const ticker = f.victimLed ? `ticker led again after ${f.ticker} ms` : "ticker elsewhere (not moved)";
      console.log(`  failover ${i + 1} (kill -9 of the instance running the agent${f.victimLed ? " and the ticker" : ""}): ${ticker}, agent running again after ${f.agent} ms, longest gap between stored ticks ${f.tickGap} ms`);
    }
  } finally {
    await db.close();
    await cluster.close();
  }
}

/** The live instance that runs the agent, and the ticker too when one instance does both. */
async function busiest(cluster: Cluster) {
  for (;;) {
    const live = cluster.apps.filter((a) => a.pid() > 0);
    const healths = await Promise.all(live.map(async (app) => ({ app, h: await cluster.health(app) })));
    const owner = healths.find((x) => x.h?.instance.agents.length && x.h.instance.leadsTicker) ?? healths.find((x) => x.h?.instance.agents.length);
    if (owner) return { app: owner.app, leads: owner.h!.instance.leadsTicker };
    await sleep(100);
  }
}

async function failover(cluster: Cluster, maxTick: () => Promise<number>, db: Store) {
  const { app: victim, leads } = await busiest(cluster);
  const before = await maxTick();
  const killedAt = Date.now();
  await victim.kill();
  // When the victim did not lead, the ticker did not move: 0 (reported as such).
  let ticker = leads ? 0 : -1;
  let agent = 0;
  while (!ticker || !agent) {
    for (const app of cluster.apps.filter((a) => a.pid() > 0)) {
      const h = await cluster.health(app);
      if (h?.instance.leadsTicker && !ticker) ticker = Date.now() - killedAt;
      if (h?.instance.agents.length && !agent) agent = Date.now() - killedAt;
    }
    if (Date.now() - killedAt > 30_000) throw new Error("no failover within 30 s");
    await sleep(25);
  }
  await sleep(3000);
  const ats = (await db.query<{ at: Date }>("SELECT at FROM market_ticks WHERE id >= $1 ORDER BY id", [before])).map((r) => r.at.getTime());
  const tickGap = Math.max(...ats.slice(1).map((t, i) => t - ats[i]!));
  await victim.start();
  await sleep(2000);
  return { ticker: Math.max(ticker, 0), victimLed: leads, agent, tickGap };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
