// The build that the over-HTTP tests start (`next build` into .next-test, or TEST_DIST_DIR), made
// at most once per test run by whoever needs it first. `npm test` starts it at once and runs the
// unit tests meanwhile; a test file that starts the app waits for it (waitForBuild), and starts
// it itself when nobody has. SKIP_BUILD=1 reuses the last build.
//
// The build runs in its own process (`node scripts/test-build.mjs --build`, detached, so that it
// outlives the test file that started it). That process holds a lock file naming itself, and when
// the build ends writes `{ ok, output }` to a status file that the waiting test files read.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), "..");
export const TEST_DIST_DIR = process.env.TEST_DIST_DIR || ".next-test";
const STATUS = path.resolve(ROOT, `${TEST_DIST_DIR}-build.json`);
const LOCK = path.resolve(ROOT, `${TEST_DIST_DIR}-build.lock`);
const NEXT = path.join(ROOT, "node_modules", "next", "dist", "bin", "next");
const ENV = { ...process.env, NEXT_DIST_DIR: TEST_DIST_DIR, NEXT_TELEMETRY_DISABLED: "1" };

const built = () => fs.existsSync(path.resolve(ROOT, TEST_DIST_DIR, "BUILD_ID"));
const reuse = () => process.env.SKIP_BUILD === "1" && built();

/** Forgets the last run's build (the code may have changed since), unless SKIP_BUILD=1 reuses it. */
export function resetBuild() {
  if (holderAlive()) return;
  fs.rmSync(LOCK, { force: true });
  fs.rmSync(STATUS, { force: true });
  if (reuse()) fs.writeFileSync(STATUS, JSON.stringify({ ok: true, output: "reused (SKIP_BUILD=1)" }));
}

/** Starts the build in the background unless it is done, reused or under way. */
export function startBuild() {
  if (fs.existsSync(STATUS) || reuse() || holderAlive()) return;
  spawn(process.execPath, [SELF, "--build"], { cwd: ROOT, env: process.env, detached: true, stdio: ["ignore", "ignore", "inherit"] }).unref();
}

/** Resolves once the build is there (starting it if nobody has); throws with its output when it failed. */
export async function waitForBuild() {
  startBuild();
  for (let waited = 0; ; waited += 250) {
    if (fs.existsSync(STATUS)) {
      const status = JSON.parse(fs.readFileSync(STATUS, "utf8"));
      if (status.ok) return;
      throw new Error(`next build failed:\n${status.output}`);
    }
    if (reuse()) return;
    // The builder is given a moment to take the lock; after that, no lock and no status means it died.
    if (waited > 5000 && !holderAlive() && !fs.existsSync(STATUS)) throw new Error(`the test build ended without a word; remove ${LOCK} and ${STATUS} and run again`);
    await delay(250);
  }
}

/** Builds now, in this process, unless SKIP_BUILD=1 reuses the last build (the benchmarks). */
export function buildSync() {
  if (reuse()) return;
  execFileSync(process.execPath, [NEXT, "build"], { cwd: ROOT, env: ENV, stdio: ["ignore", "ignore", "inherit"] });
}

function holderAlive() {
  let pid;
  try {
    pid = Number(fs.readFileSync(LOCK, "utf8"));
    // Just created: its holder is about to write its id.
    if (!pid) return Date.now() - fs.statSync(LOCK).mtimeMs < 5000;
  } catch {
    return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/** The builder process: takes the lock (or leaves if someone has it), builds, reports. */
async function build() {
  let lock;
  try {
    lock = fs.openSync(LOCK, "wx");
  } catch {
    return; // someone else builds
  }
  fs.writeSync(lock, String(process.pid));
  fs.closeSync(lock);
  if (fs.existsSync(STATUS)) return void fs.rmSync(LOCK, { force: true }); // it ended just now
  const started = Date.now();
  process.stderr.write(`[tests] building the app into ${TEST_DIST_DIR} ...\n`);
  const child = spawn(process.execPath, [NEXT, "build"], { cwd: ROOT, env: ENV, stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr.on("data", (d) => (output = (output + d).slice(-20_000)));
  const code = await new Promise((resolve) => {
    child.once("error", (error) => {
      output += String(error);
      resolve(-1);
    });
    child.once("exit", (exitCode) => resolve(exitCode));
  });
  const ok = code === 0 && built();
  fs.writeFileSync(STATUS, JSON.stringify({ ok, output }));
  fs.rmSync(LOCK, { force: true });
  process.stderr.write(`[tests] build ${ok ? "done" : "FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

// No top-level await: the benchmarks load this module through tsx as CommonJS.
if (process.argv[1] === SELF && process.argv[2] === "--build") {
  build().catch((error) => {
    process.stderr.write(`[tests] the build process failed: ${error}\n`);
    process.exitCode = 1;
  });
}
