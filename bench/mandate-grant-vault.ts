/**
 * What keeping a standing mandate's refresh token sealed in the store costs each trade under the
 * mandate (lib/agent/mandate-grant-vault.ts): one draw = mark the row (UPDATE … RETURNING), open
 * the JWE (A256GCM), the identity server's answer (here an immediate stand-in, so the figure is
 * the vault's own cost), seal the rotated token, store it and clear the mark (UPDATE), against a
 * migrated in-memory PGlite store. Also: taking the hold up after a start (restore). p50 / p95
 * over BENCH_RUNS draws (default 500).
 *
 *   npx tsx bench/mandate-grant-vault.ts
 */
import { spawnSync } from "node:child_process";

// lib/ modules start with `import "server-only"`, which resolves to an empty module only under
// the react-server condition (as in Next.js). Re-run ourselves with it.
if (!process.execArgv.some((a) => a.includes("react-server"))) {
  const child = spawnSync(process.execPath, [...process.execArgv, "--conditions=react-server", ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const RUNS = Number(process.env.BENCH_RUNS ?? 500);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (n: number) => `${n.toFixed(2)} ms`;

async function main() {
  const { openTestDb } = await import("../tests/helpers/store-snapshot");
  const { MandateGrantVault } = await import("../lib/agent/mandate-grant-vault");
  const db = await openTestDb();
  const mandate = {
    type: "stock_trade_mandate" as const,
    mandate_id: "mdt_BenchMandate0000000001",
    symbol: "NVDA",
    side: "buy" as const,
    max_per_trade: "500.00",
    max_per_day: "2000.00",
    currency: "USD" as const,
    expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  };
  await db.query(
    `INSERT INTO mandates (mandate_id, user_sub, agent_sub, symbol, max_per_trade_cents, max_per_day_cents, expires_at, status)
     VALUES ($1, 'alice', 'aurelius', 'NVDA', 50000, 200000, $2, 'requested')`,
    [mandate.mandate_id, mandate.expires_at],
  );
  const vault = new MandateGrantVault(db, "aurelius");
  await vault.keep({ mandate, refreshToken: "rt-0" });
  await db.query("UPDATE mandates SET status = 'granted'");

  let n = 0;
  const draw = () => vault.draw(mandate.mandate_id, async () => ({ refreshToken: `rt-${++n}-${"x".repeat(40)}` }));
  for (let i = 0; i < 50; i++) await draw(); // warm-up
  const draws: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await draw();
    draws.push(performance.now() - t);
  }
  const restores: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 200); i++) {
    const t = performance.now();
    const { held } = await new MandateGrantVault(db, "aurelius").restore();
    restores.push(performance.now() - t);
    if (!held) throw new Error("the hold did not come back");
  }
  draws.sort((a, b) => a - b);
  restores.sort((a, b) => a - b);
  console.log(`mandate grant vault, PGlite in memory, ${RUNS} draws (each: mark, open, seal the rotated token, store)`);
  console.log(`  draw    p50 ${ms(pct(draws, 50))}  p95 ${ms(pct(draws, 95))}  max ${ms(draws.at(-1)!)}`);
  console.log(`  restore p50 ${ms(pct(restores, 50))}  p95 ${ms(pct(restores, 95))}  (a new agent taking the hold up, ${restores.length} runs)`);
  await db.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
