/**
 * `npm run doctor` — checks the configured identity server (WSO2, Auth0, or the embedded one of a
 * running app) before the demo runs, and prints each check as ✓ / ✗ / ! with how to fix it.
 * Exits 1 when a check fails. Never prints a secret.
 *
 *   npm run doctor                              no side effects: nobody is notified
 *   npm run doctor -- --send-test-approval      also sends ONE real approval request to the
 *                                               investor, to prove the user hint resolves
 *
 * Reads .env / .env.local like Next.js does (@next/env), then lib/config.ts.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";

// lib/ and mcp/ modules start with `import "server-only"`, which resolves to an empty module only
// under the react-server condition (as inside Next.js). Re-run ourselves with it.
if (!process.execArgv.some((a) => a.includes("react-server"))) {
  const child = spawnSync(process.execPath, [...process.execArgv, "--conditions=react-server", ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const USAGE = "usage: npm run doctor [-- --send-test-approval]";

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const unknown = args.filter((a) => a !== "--send-test-approval");
  if (unknown.length) {
    console.error(`unknown option ${unknown.join(" ")}\n${USAGE}`);
    return 2;
  }
  const { loadEnvConfig } = await import("@next/env");
  loadEnvConfig(path.resolve(__dirname, ".."), process.env.NODE_ENV !== "production", { info: () => {}, error: console.error });
  const { ConfigError, parseConfig } = await import("../lib/config");
  const { runDoctor } = await import("../lib/doctor/run");

  let config;
  try {
    config = parseConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.log("✗ Configuration invalid");
    for (const problem of error.problems) console.log(`    → ${problem}`);
    return 1;
  }
  console.log(`Sleeping Guardian doctor: checking ${config.auth.provider === "embedded" ? `the embedded server of the app at ${config.publicUrl}` : `the ${config.auth.provider} tenant`}\n`);
  const report = await runDoctor(config, { sendTestApproval: args.includes("--send-test-approval") });
  console.log(report.format());
  return report.failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error("doctor failed:", error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
