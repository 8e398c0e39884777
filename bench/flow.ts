/**
 * The agent flow's latency on the embedded defaults (rules model, embedded identity server,
 * CIBA interval 2 s), over real HTTP against the built app:
 *
 *   A. from the price crossing the threshold (the first market tick below it) to the CIBA request
 *      (the agent's `agent.ciba_sent` activity entry): price check → model → order → 403 → CIBA;
 *   B. from Alice's approval (her Approve POST on the identity server's page) to the trade
 *      recorded by the broker: the poll wait (≤ interval), OBO token, checks, buy_stock.
 *
 * Each run: reset → crash → wait for the mail → approve (at a varying point of the poll cycle) →
 * wait for the trade. B is dominated by the poll interval: p50 / p95 over
 * BENCH_RUNS runs (default 12). BENCH_STEPS=1 also prints the agent's steps of each run between the
 * crossing and its CIBA request. The app is started once with tests/helpers/app-server.ts from
 * the build in TEST_DIST_DIR (default .next-test; build it first, e.g. by running the tests, or
 * `NEXT_DIST_DIR=.next-test npx next build`). All timestamps come from the same machine's clock.
 *
 *   npx tsx bench/flow.ts
 */
import fs from "node:fs";
import path from "node:path";
import type { AgentView } from "../lib/agent/view";
import type { DashboardState } from "../lib/demo";
import { Alice } from "../tests/helpers/agent-alice";
import { startApp } from "../tests/helpers/app-server";
import { asInvestor } from "../tests/helpers/investor-session";

const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const PASSWORD = "bench-alice-password";
const THRESHOLD_CENTS = 14900;

async function main() {
  const dist = process.env.TEST_DIST_DIR || ".next-test";
  if (!fs.existsSync(path.join(__dirname, "..", dist, "BUILD_ID"))) {
    throw new Error(`No build in ${dist}: build first (NEXT_DIST_DIR=${dist} npx next build) or set TEST_DIST_DIR.`);
  }
  const app = await startApp({ PRICE_THRESHOLD: "149.00", INVESTOR_PASSWORD: PASSWORD, AGENT_COOLDOWN_SECONDS: "5" });
  const alice = new Alice(app.url, "alice@example.com", PASSWORD);
  const get = async <T>(p: string) => (await (await asInvestor(app.url, p)).json()) as T;
  const post = (p: string) => asInvestor(app.url, p, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const until = async <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const v = await read();
      if (ok(v)) return v;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out: ${what}`);
  };

  const toCiba: number[] = [];
  const toTrade: number[] = [];
  const seen: string[] = [];
  try {
    await until(() => get<AgentView>("/api/agent"), (a) => a.tokens.agent !== null, "agent token");
    for (let run = 1; run <= RUNS; run++) {
      await post("/api/market/reset");
      await until(() => get<AgentView>("/api/agent"), (a) => a.state === "MONITORING" && a.order === null, "MONITORING");
      await post("/api/market/crash");
      const mail = await alice.waitForApprovalMail(seen, 60_000);
      seen.push(mail.id);
      const state = await get<DashboardState>("/api/state");
      const crossing = state.history.find((t) => t.priceCents < THRESHOLD_CENTS);
      const ciba = [...state.activity].reverse().find((e) => e.kind === "agent.ciba_sent");
      if (!crossing || !ciba) throw new Error("crossing or CIBA entry not found");

      await alice.open(mail.approve);
      // Approve at a different moment of the agent's poll cycle in each run (0, 0.3, ... s after
      // the page is open), so B samples the poll phase instead of always hitting the same one.
      await new Promise((r) => setTimeout(r, ((run - 1) * 300) % 2100));
      const approvedAt = Date.now();
      await alice.submit("approve");
      const trade = (await until(() => get<DashboardState>("/api/state"), (s) => s.trades.length > 0, "trade")).trades[0]!;

      toCiba.push(Date.parse(ciba.at) - Date.parse(crossing.at));
      toTrade.push(Date.parse(trade.at) - approvedAt);
      console.log(`run ${String(run).padStart(2)}: crossing → CIBA request ${ms(toCiba.at(-1)!)}, approval → trade ${ms(toTrade.at(-1)!)}`);
      if (process.env.BENCH_STEPS) {
        // The agent's steps between the crossing and its CIBA request, as offsets from the crossing.
        const t0 = Date.parse(crossing.at);
        const steps = state.activity.filter((e) => e.kind.startsWith("agent.") && Date.parse(e.at) >= t0 && Date.parse(e.at) <= Date.parse(ciba.at));
        console.log(`        ${steps.map((e) => `${e.kind.slice(6)} +${Date.parse(e.at) - t0}`).join(", ")}`);
        const stream = state.activity.filter((e) => e.kind === "agent.price_stream" && e.level !== "debug");
        if (stream.length) console.log(`        price stream: ${stream.map((e) => `${e.at} ${e.message}`).join(" | ")}`);
      }
      await until(() => get<AgentView>("/api/agent"), (a) => a.state === "DONE", "DONE");
    }
  } finally {
    await app.stop();
  }

  console.log(`\nAgent flow on the embedded defaults (rules model, CIBA interval 2 s), ${RUNS} runs, loopback:`);
  console.log(`  price crossing → CIBA request   p50 ${ms(pct(toCiba, 50))}   p95 ${ms(pct(toCiba, 95))}   min ${ms(Math.min(...toCiba))}   max ${ms(Math.max(...toCiba))}`);
  console.log(`  Alice approves → trade recorded  p50 ${ms(pct(toTrade, 50))}   p95 ${ms(pct(toTrade, 95))}   min ${ms(Math.min(...toTrade))}   max ${ms(Math.max(...toTrade))}`);
  console.log("  (crossing is the first market tick below the threshold; the agent checks the price on every tick the broker's price subscription announces.)");
}

/** Nearest-rank percentile. */
function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (v: number) => `${Math.round(v)} ms`.padStart(8);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
