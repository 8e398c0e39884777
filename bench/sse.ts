/**
 * Benchmark: latency from a market tick to a real browser receiving it over Server-Sent Events,
 * and the server's resident memory after minutes of ticking.
 *
 *   npx tsx bench/sse.ts [--ticks 200] [--tick-ms 1000] [--soak-minutes 5]
 *
 * Starts the built app (`next build` into .next-test first, as `npm test` does), opens the
 * dashboard's event stream in Debian's Chromium, and records for each tick the browser's receive
 * time minus the tick's server timestamp (same machine, same clock). The timestamp is taken
 * before the tick is persisted, so the figure includes the store write, the bus and the stream.
 * Then it keeps the server ticking and reads VmRSS of the server's process tree from /proc.
 */
import fs from "node:fs";
import { startApp } from "../tests/helpers/app-server";
import { launchBrowser } from "../tests/helpers/browser";
import { buildSync } from "../scripts/test-build.mjs";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TICKS = arg("ticks", 200);
const TICK_MS = arg("tick-ms", 1000);
const SOAK_MINUTES = arg("soak-minutes", 5);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

function treeRssKb(rootPid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      total += Number(match?.[1] ?? 0);
    } catch {
      // gone
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

async function main() {
  if (!process.env.SKIP_BUILD) process.env.SKIP_BUILD = "1";
  buildSync();
  const app = await startApp({ MARKET_TICK_MS: String(TICK_MS) });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${app.url}/api/health`);
    console.log(`measuring ${TICKS} ticks at one per ${TICK_MS} ms ...`);
    const latencies = await page.evaluate(
      ({ count }) =>
        new Promise<number[]>((resolve) => {
          const out: number[] = [];
          const source = new EventSource("/api/events");
          let first = true;
          source.addEventListener("tick", (event) => {
            const received = Date.now();
            // The first event is the current snapshot sent on connect, not a fresh tick.
            if (first) return void (first = false);
            out.push(received - Date.parse(JSON.parse((event as MessageEvent).data).at));
            if (out.length >= count) {
              source.close();
              resolve(out);
            }
          });
        }),
      { count: TICKS },
    );
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`tick → browser over SSE: n=${sorted.length} p50=${percentile(sorted, 50)} ms p95=${percentile(sorted, 95)} ms max=${sorted.at(-1)} ms`);

    const pid = app.pid();
    const startKb = treeRssKb(pid);
    console.log(`server RSS after the latency run: ${(startKb / 1024).toFixed(1)} MiB; soaking ${SOAK_MINUTES} min with the dashboard open ...`);
    await page.goto(app.url);
    const samples: number[] = [];
    const end = Date.now() + SOAK_MINUTES * 60_000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(0, end - Date.now()))));
      samples.push(treeRssKb(pid));
    }
    const endKb = treeRssKb(pid);
    console.log(
      `server RSS after ${SOAK_MINUTES} min of ticking: ${(endKb / 1024).toFixed(1)} MiB ` +
        `(min ${(Math.min(...samples) / 1024).toFixed(1)}, max ${(Math.max(...samples) / 1024).toFixed(1)} MiB over ${samples.length} samples)`,
    );
  } finally {
    await browser.close();
    await app.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
