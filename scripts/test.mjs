#!/usr/bin/env node
// `npm test`: the type check (`tsc --noEmit`, counted as one test) and every vitest test (unit,
// integration over real HTTP, end-to-end in Chromium), then one plain line `N passed, N failed`
// read from vitest's JSON report, so a run that executed no test is visible as such.
//
// Three things run side by side on few cores: the type check (at low priority, in the time the
// tests spend waiting), the app build for the tests that start the app (scripts/test-build.mjs),
// and vitest, which runs the tests that need no build first.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resetBuild, startBuild } from "./test-build.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const report = path.join(root, "test-results", "vitest.json");
fs.mkdirSync(path.dirname(report), { recursive: true });
fs.rmSync(report, { force: true });
const fileArgs = process.argv.slice(2);
const wholeSuite = fileArgs.length === 0;

/** Runs a command; resolves with its exit status and what it printed. */
function run(args, { quiet = false, lowPriority = false } = {}) {
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: root, env: process.env, stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit" });
  if (lowPriority) {
    try {
      os.setPriority(child.pid, 19);
    } catch {
      // not permitted here: it runs at normal priority
    }
  }
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  return new Promise((resolve) => {
    child.once("error", (error) => resolve({ status: 1, output: output + String(error), seconds: 0 }));
    child.once("exit", (status, signal) => resolve({ status: status ?? 1, output: signal ? `${output}\n(ended by ${signal})` : output, seconds: (Date.now() - started) / 1000 }));
  });
}

// A single file or filter builds only when one of its tests needs the app (they build on demand).
if (wholeSuite) {
  resetBuild();
  startBuild();
}
const typecheck = wholeSuite ? run([path.join(root, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", root], { quiet: true, lowPriority: true }) : undefined;

const vitestArgs = [path.join(root, "node_modules", "vitest", "vitest.mjs"), "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...fileArgs];
process.env.TEST_BUILD_STARTED = wholeSuite ? "1" : "";
const tests = await run(vitestArgs);

let passed = 0;
let failed = 0;
let skipped = 0;
if (fs.existsSync(report)) {
  const json = JSON.parse(fs.readFileSync(report, "utf8"));
  passed = json.numPassedTests ?? 0;
  // A file that failed without a failing test (an import error, a failing hook) counts as one.
  const brokenFiles = (json.testResults ?? []).filter(
    (file) => file.status === "failed" && !(file.assertionResults ?? []).some((t) => t.status === "failed"),
  ).length;
  failed = (json.numFailedTests ?? 0) + brokenFiles;
  skipped = (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
} else {
  failed = 1;
}

if (typecheck) {
  const check = await typecheck;
  const clean = check.status === 0 && check.output.trim() === "";
  if (clean) passed += 1;
  else {
    failed += 1;
    console.log(`\ntype check (tsc --noEmit) FAILED:\n${check.output}`);
  }
  console.log(`type check (tsc --noEmit): ${clean ? "passed" : "failed"} in ${check.seconds.toFixed(1)} s`);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(tests.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
