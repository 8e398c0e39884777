import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * Builds the app once into .next-test for the tests that start it over real HTTP
 * (tests/helpers/app-server.ts). SKIP_BUILD=1 reuses the last build while iterating locally.
 */
/** Where the test build goes; helpers working in parallel may each set their own. */
export const TEST_DIST_DIR = process.env.TEST_DIST_DIR || ".next-test";

export default function setup(): void {
  const root = path.resolve(__dirname, "..", "..");
  const built = fs.existsSync(path.join(root, TEST_DIST_DIR, "BUILD_ID"));
  if (process.env.SKIP_BUILD === "1" && built) return;
  const started = Date.now();
  console.log(`[tests] building the app into ${TEST_DIST_DIR} ...`);
  execFileSync(process.execPath, [path.join(root, "node_modules", "next", "dist", "bin", "next"), "build"], {
    cwd: root,
    env: { ...process.env, NEXT_DIST_DIR: TEST_DIST_DIR, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  console.log(`[tests] build done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
