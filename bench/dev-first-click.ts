/**
 * The development server's first click: `next dev` started cold (its own empty dist folder, so
 * nothing is compiled and nothing is cached; a fresh DATA_DIR), then, once it answers and has had
 * time to settle, what a user does first — open the dashboard, click Trigger Market Crash, open
 * the mailbox and the approval page — each timed on its first request, then again (the tenth
 * click is as fast as the second).
 *
 *   A. GET / , GET /api/state, GET /inbox, GET /oidc/.well-known/openid-configuration (the
 *      approval page's route): the first answer of each;
 *   B. first click: POST /api/market/crash → the crash shown, i.e. the first `tick` event with
 *      status CRASHING on the dashboard's event stream (opened before the click, as the page has it).
 *
 * It waits for the server's "[dev] routes warmed" line, or BENCH_SETTLE_MS (default 120 s) when
 * the server prints none, before the first request.
 *
 *   npx tsx bench/dev-first-click.ts
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { asInvestor } from "../tests/helpers/investor-session";
import { startNext } from "./next-server";

const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 120_000);
const DIST = ".next-bench-dev";

async function main() {
  const root = path.resolve(__dirname, "..");
  // next dev adds its dist folder's types to tsconfig.json: put the file back afterwards.
  const tsconfig = fs.readFileSync(path.join(root, "tsconfig.json"), "utf8");
  fs.rmSync(path.join(root, DIST), { recursive: true, force: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-bench-dev-"));
  const app = await startNext("dev", { DATA_DIR: dataDir, NEXT_DIST_DIR: DIST });
  const rows: [string, number, number][] = [];
  try {
    const settled = Date.now();
    while (!/\[dev\] routes warmed/.test(app.output()) && Date.now() - settled < SETTLE_MS) await sleep(100);
    const warmed = /\[dev\] routes warmed[^\n]*/.exec(app.output())?.[0];
    console.log(`ready after ${(app.readyAfterMs / 1000).toFixed(1)} s; ${warmed ?? `no warm-up line, waited ${SETTLE_MS / 1000} s`}`);

    const get = async (p: string) => {
      const t = performance.now();
      const res = await fetch(`${app.url}${p}`);
      await res.arrayBuffer();
      return performance.now() - t;
    };
    for (const p of ["/", "/api/state", "/inbox", "/oidc/.well-known/openid-configuration"]) {
      rows.push([`GET ${p}`, await get(p), await get(p)]);
    }
    rows.push(["click: crash shown", await crashShown(app.url), 0]);
    await asInvestor(app.url, "/api/market/reset", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await sleep(1500);
    rows[rows.length - 1]![2] = await crashShown(app.url);
  } finally {
    await app.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(path.join(root, DIST), { recursive: true, force: true });
    fs.writeFileSync(path.join(root, "tsconfig.json"), tsconfig);
  }
  console.log("\nCold `next dev`, first and second request:");
  for (const [name, first, second] of rows) console.log(`  ${name.padEnd(52)} first ${ms(first)}   then ${ms(second)}`);
}

/** POST /api/market/crash as the dashboard's button does, timed to the first CRASHING tick on the event stream. */
async function crashShown(url: string): Promise<number> {
  const stream = new AbortController();
  const events = await fetch(`${url}/api/events`, { signal: stream.signal });
  const reader = events.body!.getReader();
  const decoder = new TextDecoder();
  const t = performance.now();
  const click = fetch(`${url}/api/market/crash`, { method: "POST", headers: { "content-type": "application/json", origin: url }, body: "{}" });
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("event stream ended");
      buffer += decoder.decode(value, { stream: true });
      if (/event: tick\ndata: [^\n]*"status":"CRASHING"/.test(buffer)) break;
      buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2);
    }
    const res = await click;
    if (!res.ok) throw new Error(`crash answered ${res.status}`);
    return performance.now() - t;
  } finally {
    stream.abort();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => `${Math.round(v)} ms`.padStart(8);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
