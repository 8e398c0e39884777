/**
 * How fast the kill switch bites: the time from Alice's POST /api/agent/revoke to the first /mcp
 * call that answers 401 invalid_token for a token of the agent, over real HTTP against the built
 * app. While the revoke is sent, two callers keep calling `get_market_price` at /mcp with a
 * token whose subject is the agent, back to back; the clock stops at the first refusal they
 * receive. Also printed: when the revoke itself answered (all its steps done: agent stopped,
 * approvals cancelled, grants revoked at the embedded server), and a /mcp call's latency for the
 * agent's token before the revoke (the revocation check runs on every one of them, from a cache).
 *
 * The app trusts a test issuer (tests/helpers/app-server.ts startAppWithTestIssuer), so that
 * every run can mint a fresh agent token after the previous run's re-enable; the revoke and the
 * re-enable are the app's own routes, with the embedded identity server running as usual. Each
 * run: mint → check it is accepted → revoke (clock) → first 401 → re-enable. p50 / p95 over
 * BENCH_RUNS runs (default 20). Needs the build in TEST_DIST_DIR (default .next-test).
 *
 *   npx tsx bench/kill-switch.ts
 */
import fs from "node:fs";
import path from "node:path";
import { MCP_ACCEPT, startAppWithTestIssuer } from "../tests/helpers/app-server";
import { asInvestor } from "../tests/helpers/investor-session";

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const CALLERS = 2;
const BODY = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: "NVDA" } } });

async function main() {
  const dist = process.env.TEST_DIST_DIR || ".next-test";
  if (!fs.existsSync(path.join(__dirname, "..", dist, "BUILD_ID"))) {
    throw new Error(`No build in ${dist}: build first (NEXT_DIST_DIR=${dist} npx next build) or set TEST_DIST_DIR.`);
  }
  const world = await startAppWithTestIssuer();
  const { app, issuer, mcpUrl } = world;
  const post = (p: string) => asInvestor(app.url, p, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  const call = async (token: string) => {
    const res = await fetch(mcpUrl, { method: "POST", headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${token}` }, body: BODY });
    const json = (await res.json()) as { error?: string };
    return { status: res.status, error: json.error };
  };

  const toRefusal: number[] = [];
  const toAnswer: number[] = [];
  const callLatency: number[] = [];
  try {
    // Run 0 warms the routes and the revocation code paths up; it is printed, not counted.
    for (let run = 0; run <= RUNS; run++) {
      const token = await issuer.mint({ sub: "aurelius", scope: "openid stock:read" }, { expiresIn: 600 });
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        const warm = await call(token);
        if (warm.status !== 200) throw new Error(`run ${run}: the fresh agent token was refused before the revoke (${warm.status} ${warm.error})`);
        if (run > 0) callLatency.push(performance.now() - started);
      }

      let refusedAt: number | undefined;
      let stop = false;
      const callers = Array.from({ length: CALLERS }, async () => {
        while (!stop) {
          const answer = await call(token);
          if (answer.status === 401 && answer.error === "invalid_token") {
            refusedAt ??= performance.now();
            return;
          }
          if (answer.status !== 200) throw new Error(`unexpected /mcp answer ${answer.status} ${answer.error}`);
        }
      });
      const t0 = performance.now();
      const revoke = await post("/api/agent/revoke");
      const answeredAt = performance.now();
      if (revoke.status !== 200) throw new Error(`revoke answered ${revoke.status}`);
      const deadline = Date.now() + 5000;
      while (refusedAt === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
      stop = true;
      await Promise.all(callers);
      if (refusedAt === undefined) throw new Error(`run ${run}: /mcp still accepted the agent's token 5 s after the revoke`);
      if (run > 0) {
        toRefusal.push(refusedAt - t0);
        toAnswer.push(answeredAt - t0);
      }
      console.log(`run ${String(run).padStart(2)}${run === 0 ? " (warm-up)" : ""}: revoke → first refused /mcp call ${ms(refusedAt - t0)}, revoke answered ${ms(answeredAt - t0)}`);
      const reenable = await post("/api/agent/reenable");
      if (reenable.status !== 200) throw new Error(`re-enable answered ${reenable.status}`);
    }
  } finally {
    await world.stop();
  }

  console.log(`\nKill switch on the embedded defaults, ${RUNS} runs, loopback, ${CALLERS} callers at /mcp:`);
  console.log(`  revoke request → first refused /mcp call  p50 ${ms(pct(toRefusal, 50))}   p95 ${ms(pct(toRefusal, 95))}   max ${ms(Math.max(...toRefusal))}`);
  console.log(`  revoke request → its answer (all steps)    p50 ${ms(pct(toAnswer, 50))}   p95 ${ms(pct(toAnswer, 95))}   max ${ms(Math.max(...toAnswer))}`);
  console.log(`  /mcp call with the agent's token (checked)  p50 ${ms(pct(callLatency, 50))}   p95 ${ms(pct(callLatency, 95))}`);
}

/** Nearest-rank percentile. */
function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} ms`.padStart(10);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
