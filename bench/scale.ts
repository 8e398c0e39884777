/**
 * Several investors on several instances of one PostgreSQL, over real HTTP against the built
 * app: three instances (tests/helpers/cluster.ts: a throwaway PostgreSQL from Debian's binaries,
 * a loopback load balancer as the public URL), BENCH_INVESTORS investors (default 100: Alice and
 * INVESTORS), one crash of the shared market.
 *
 *   - ticks per second written to market_ticks (one ticker's rate expected, MARKET_TICK_MS=1000);
 *   - approvals asked (CIBA requests) after the crash, and trades executed after every investor
 *     approves from her own mail on the identity server's page;
 *   - approval → trade per investor (ms from her decision to the trade's row), p50 / p95 / max;
 *   - failover: kill -9 of the busiest instance (the one running the most agents), then the time
 *     until every agent runs again on the other two, and until the ticker is led again if the
 *     killed instance led it (as /api/health says, polled every 50 ms), and the longest gap in
 *     the stored tick series.
 *
 *   npx tsx bench/scale.ts        (build first: npm test, or NEXT_DIST_DIR=.next-test npx next build)
 *   BENCH_INVESTORS=20 BENCH_APPROVERS=4 npx tsx bench/scale.ts
 */
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { press, waitUntil } from "../tests/helpers/agent-app";
import { Alice } from "../tests/helpers/agent-alice";
import { startCluster, type Cluster } from "../tests/helpers/cluster";

const INVESTORS = Math.max(1, Number(process.env.BENCH_INVESTORS ?? 100));
/** How many investors approve at the same time (people with their phones). */
const APPROVERS = Math.max(1, Number(process.env.BENCH_APPROVERS ?? 8));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Investor {
  sub: string;
  email: string;
  password: string;
}

const investors: Investor[] = Array.from({ length: INVESTORS }, (_, i) =>
  i === 0
    ? { sub: "alice", email: "alice@example.com", password: "bench-alice-password" }
    : { sub: `inv${String(i + 1).padStart(3, "0")}`, email: `inv${String(i + 1).padStart(3, "0")}@example.com`, password: `bench-password-${i + 1}` },
);

/** The benchmark reads the store directly (lib/store is server-only). */
interface Store {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

const count = async (db: Store, sql: string) => Number((await db.query<{ n: number }>(sql))[0]!.n);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main() {
  const dist = process.env.TEST_DIST_DIR || ".next-test";
  if (!fs.existsSync(path.join(__dirname, "..", dist, "BUILD_ID"))) {
    throw new Error(`No build in ${dist}: build first (NEXT_DIST_DIR=${dist} npx next build) or set TEST_DIST_DIR.`);
  }
  const started = Date.now();
  const cluster = await startCluster(3, {
    PRICE_THRESHOLD: "148.00",
    CIBA_INTERVAL_SECONDS: "2",
    // A hundred people take a while to approve: the requests and orders wait for them.
    CIBA_MAX_EXPIRY_SECONDS: "900",
    AGENT_APPROVAL_EXPIRY_SECONDS: "900",
    INVESTOR_PASSWORD: investors[0]!.password,
    INVESTORS: investors
      .slice(1)
      .map((i) => `${i.sub}:Investor ${i.sub}:${i.email}:${i.password}`)
      .join(","),
  });
  const pool = new pg.Pool({ connectionString: cluster.pg.url, max: 4 });
  const db: Store = { query: async (sql, params) => (await pool.query(sql, params)).rows, close: () => pool.end() };
  const maxTick = async () => Number((await db.query<{ id: string | null }>("SELECT max(id) AS id FROM market_ticks"))[0]!.id ?? 0);
  try {
    // Every agent has its token (it watches) before the crash.
    await waitUntil(() => count(db, "SELECT count(*)::int AS n FROM agent_state WHERE agent_token_claims IS NOT NULL"), (n) => n === INVESTORS, 300_000, "every agent's token");
    const readyMs = Date.now() - started;
    const spread = await agentsPerInstance(cluster);

    const t0 = await maxTick();
    const s0 = Date.now();
    await sleep(10_000);
    const ticksPerSecond = ((await maxTick()) - t0) / ((Date.now() - s0) / 1000);

    const crashedAt = Date.now();
    await press(cluster.apps[1]!.url, "/api/market/crash");
    const mailed = "SELECT count(DISTINCT to_address)::int AS n FROM idp_mailbox";
    // Below the threshold (the first agent asked), the price holds there: every order's limit stays above it.
    await waitUntil(() => count(db, mailed), (n) => n >= 1, 120_000, "a first approval mail");
    await press(cluster.apps[2]!.url, "/api/market/stabilize");
    await waitUntil(() => count(db, mailed), (n) => n >= INVESTORS, 300_000, "an approval mail for every investor").catch((e: Error) => console.warn(`  ${e.message}`));
    const allAskedMs = Date.now() - crashedAt;
    const investorsAsked = await count(db, mailed);
    const approvalsAsked = await count(db, "SELECT count(*)::int AS n FROM idp_approvals");
    const asksPerInvestor = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM idp_approvals GROUP BY account_id ORDER BY 1 DESC LIMIT 1");

    // Each investor opens her own newest mail's link, signs in, approves; the time of her decision is kept.
    const decidedAt = new Map<string, number>();
    const notApproved: string[] = [];
    const queue = [...investors];
    await Promise.all(
      Array.from({ length: APPROVERS }, async () => {
        for (let investor = queue.shift(); investor; investor = queue.shift()) {
          const [mail] = await db.query<{ links: Record<string, string> }>("SELECT links FROM idp_mailbox WHERE to_address = $1 ORDER BY seq DESC LIMIT 1", [investor.email]);
          const page = mail ? await new Alice(cluster.lb.url, investor.email, investor.password).decide(mail.links.approve!, "approve").catch((e: Error) => e.message) : "no mail";
          if (page.includes('data-status="approved"')) decidedAt.set(investor.sub, Date.now());
          else notApproved.push(investor.sub);
        }
      }),
    );
    // Trades follow the approvals: done when every approved order traded, or nothing changed for 20 s.
    let last = { n: -1, at: Date.now() };
    await waitUntil(
      async () => {
        const n = await count(db, "SELECT count(*)::int AS n FROM trades");
        if (n !== last.n) last = { n, at: Date.now() };
        return n >= decidedAt.size || Date.now() - last.at > 20_000;
      },
      (done) => done,
      300_000,
      "the trades to settle",
    ).catch((e: Error) => console.warn(`  ${e.message}`));
    const trades = await db.query<{ user_sub: string; created_at: Date }>("SELECT user_sub, created_at FROM trades");
    const tradesPerInvestor = Math.max(0, ...Object.values(trades.reduce<Record<string, number>>((acc, t) => ({ ...acc, [t.user_sub]: (acc[t.user_sub] ?? 0) + 1 }), {})));
    const latencies = trades.filter((t) => decidedAt.has(t.user_sub)).map((t) => t.created_at.getTime() - decidedAt.get(t.user_sub)!).sort((a, b) => a - b);
    const failures = await db.query<{ reason: string; n: number }>(
      "SELECT coalesce(left(reason, 90), '?') AS reason, count(*)::int AS n FROM agent_state WHERE state = 'FAILED' GROUP BY 1 ORDER BY 2 DESC",
    );
    const states = await db.query<{ state: string; n: number }>("SELECT state, count(*)::int AS n FROM agent_state GROUP BY 1 ORDER BY 2 DESC");

    const fail = await failover(cluster, maxTick, db);

    console.log(`\nbench/scale.ts: 3 instances, one PostgreSQL, ${INVESTORS} investors (one agent each), one crash`);
    console.log("  (one shared 2-core machine running PostgreSQL, three app instances and this script: figures are noisy)");
    console.log(`  all ${INVESTORS} agents holding a token ${(readyMs / 1000).toFixed(1)} s after the start; agents per instance: ${spread.join(" / ")}`);
    console.log(`  ticks per second in market_ticks (MARKET_TICK_MS=1000): ${ticksPerSecond.toFixed(2)}`);
    console.log(
      `  approvals asked: ${approvalsAsked} CIBA requests to ${investorsAsked} of ${INVESTORS} investors (at most ${asksPerInvestor[0]?.n ?? 0} per investor), ${(allAskedMs / 1000).toFixed(1)} s after the crash`,
    );
    console.log(`  approved from the newest mail: ${decidedAt.size}; not approvable: ${notApproved.length}${notApproved.length ? ` (${notApproved.slice(0, 8).join(", ")}${notApproved.length > 8 ? ", …" : ""})` : ""}`);
    console.log(`  trades executed after all approved: ${trades.length} (at most ${tradesPerInvestor} per investor)`);
    console.log(`  agents' states then: ${states.map((x) => `${x.state} ${x.n}`).join(", ")}`);
    for (const f of failures) console.log(`  agents ending FAILED: ${f.n} × ${f.reason}`);
    if (latencies.length) {
      console.log(
        `  approval → trade (CIBA interval 2 s, ${APPROVERS} approving at once): p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms, max ${latencies.at(-1)} ms`,
      );
    }
    console.log(
      `  failover (kill -9 of the busiest instance, ${fail.agentsOnVictim} agents${fail.victimLed ? " and the ticker" : ""}): every agent running again after ${fail.agentsMs} ms` +
        `${fail.victimLed ? `, ticker led again after ${fail.tickerMs} ms` : " (ticker elsewhere, not moved)"}, longest gap between stored ticks ${fail.tickGap} ms; agents per instance after: ${fail.spreadAfter.join(" / ")}`,
    );
  } finally {
    await db.close();
    await cluster.close();
  }
}

/** Agents per instance from /api/health; "?" for an instance that did not answer in three tries (2 s each). */
async function agentsPerInstance(cluster: Cluster): Promise<(number | "?")[]> {
  const healthOf = async (app: Cluster["apps"][number]) => {
    if (app.pid() <= 0) return undefined;
    for (let i = 0; i < 3; i++) {
      const h = await cluster.health(app);
      if (h) return h;
    }
    return null;
  };
  const healths = await Promise.all(cluster.apps.map(healthOf));
  return healths.map((h) => (h === null ? "?" : (h?.instance.agents.length ?? 0)));
}

async function failover(cluster: Cluster, maxTick: () => Promise<number>, db: Store) {
  const healths = await Promise.all(cluster.apps.map(async (app) => ({ app, h: await cluster.health(app) })));
  const victim = healths.reduce((a, b) => ((b.h?.instance.agents.length ?? 0) > (a.h?.instance.agents.length ?? 0) ? b : a));
  const agentsOnVictim = victim.h?.instance.agents.length ?? 0;
  const victimLed = victim.h?.instance.leadsTicker ?? false;
  const before = await maxTick();
  const killedAt = Date.now();
  await victim.app.kill();
  let tickerMs = victimLed ? 0 : -1;
  let agentsMs = 0;
  while (!tickerMs || !agentsMs) {
    const live = await Promise.all(cluster.apps.filter((a) => a.pid() > 0).map((app) => cluster.health(app)));
    if (!tickerMs && live.some((h) => h?.instance.leadsTicker)) tickerMs = Date.now() - killedAt;
    if (!agentsMs && live.reduce((n, h) => n + (h?.instance.agents.length ?? 0), 0) === INVESTORS) agentsMs = Date.now() - killedAt;
    if (Date.now() - killedAt > 120_000) throw new Error("no complete failover within 120 s");
    await sleep(50);
  }
  await sleep(3000);
  const ats = (await db.query<{ at: Date }>("SELECT at FROM market_ticks WHERE id >= $1 ORDER BY id", [before])).map((r) => r.at.getTime());
  const tickGap = Math.max(0, ...ats.slice(1).map((t, i) => t - ats[i]!));
  return { agentsOnVictim, victimLed, tickerMs, agentsMs, tickGap, spreadAfter: await agentsPerInstance(cluster) };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
