/**
 * The production server's resident memory on the embedded store (PGlite), over the built app:
 *
 *   A. first start on an empty DATA_DIR (the store is created and migrated), 20 s after ready;
 *   B. a restart on the same DATA_DIR (the store is reopened), 20 s after ready;
 *   C. for comparison, the same server with the agent off (AGENT_ENABLED=false) on the reopened store.
 *
 * Each figure is VmRSS of the `next start` process from /proc/PID/status (Linux), and VmHWM, the
 * most it held at any moment. The app is started from the build
 * in TEST_DIST_DIR (default .next-test; build it first: `NEXT_DIST_DIR=.next-test npx next build`).
 * BENCH_SETTLE_MS changes the 20 s wait.
 *
 *   npx tsx bench/memory.ts
 */
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { startNext, type NextServer } from "./next-server";

const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 20_000);

async function main() {
  const dist = process.env.TEST_DIST_DIR || ".next-test";
  if (!fs.existsSync(path.join(__dirname, "..", dist, "BUILD_ID"))) {
    throw new Error(`No build in ${dist}: build first (NEXT_DIST_DIR=${dist} npx next build) or set TEST_DIST_DIR.`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-bench-mem-"));
  const rows: [string, Reading, number][] = [];
  const run = async (name: string, env: Record<string, string> = {}) => {
    const app = await startNext("start", { DATA_DIR: dataDir, ...env });
    try {
      rows.push([name, await settle(app), app.readyAfterMs]);
    } finally {
      await app.stop();
    }
  };
  try {
    await run("first start (empty DATA_DIR)");
    await run("restart (store reopened)");
    await run("restart, agent off", { AGENT_ENABLED: "false" });
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`\nProduction server (next start) on the embedded store, ${SETTLE_MS / 1000} s after ready:`);
  for (const [name, r, ready] of rows) {
    console.log(
      `  ${name.padEnd(30)} VmRSS ${mib(r.rss)}   VmHWM ${mib(r.hwm)}` + `   ready after ${(ready / 1000).toFixed(1)} s`,
    );
  }
}

interface Reading {
  rss: number;
  hwm: number;
}

async function settle(app: NextServer): Promise<Reading> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return read(app.pid);
}

/** VmRSS and VmHWM of a process, in KiB. */
function read(pid: number): Reading {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

const mib = (kib: number) => `${Math.round(kib / 1024)} MiB`.padStart(8);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
