/**
 * `npm run audit` — the audit chain out of the store, and checked.
 *
 *   npm run audit -- export [FILE]            the chain as JSON lines, to FILE or stdout
 *   npm run audit -- verify FILE [--head HASH] checks an export: exit 0 when intact, 1 naming the
 *                                              first record changed, removed or reordered
 *                                              (--head: the head hash noted before, e.g. from the
 *                                              dashboard, must end the chain)
 *
 * Exit 2 on a usage error. Export reads the store the app uses (DATABASE_URL, or the embedded
 * store under DATA_DIR, which only one process may open: stop the app first). Verify needs no
 * store. Reads .env / .env.local like Next.js does (@next/env), then lib/config.ts.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

// lib/ modules start with `import "server-only"`, which resolves to an empty module only under
// the react-server condition (as inside Next.js). Re-run ourselves with it.
if (!process.execArgv.some((a) => a.includes("react-server"))) {
  const child = spawnSync(process.execPath, [...process.execArgv, "--conditions=react-server", ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const USAGE = "usage: npm run audit -- export [FILE]\n       npm run audit -- verify FILE [--head HASH]";

class UsageError extends Error {}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (command === "export") {
    if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) throw new UsageError(`export takes at most one FILE`);
    return exportChain(rest[0]);
  }
  if (command === "verify") {
    const headAt = rest.indexOf("--head");
    let head: string | undefined;
    if (headAt >= 0) {
      head = rest[headAt + 1];
      if (!head || !/^[0-9a-f]{64}$/.test(head)) throw new UsageError("--head takes a SHA-256 hash (64 hex digits)");
      rest.splice(headAt, 2);
    }
    if (rest.length !== 1 || rest[0]!.startsWith("-")) throw new UsageError("verify takes one FILE");
    return verifyFile(rest[0]!, head);
  }
  throw new UsageError(command ? `unknown command ${command}` : "no command");
}

async function exportChain(file: string | undefined): Promise<number> {
  const { loadEnvConfig } = await import("@next/env");
  loadEnvConfig(path.resolve(__dirname, ".."), process.env.NODE_ENV !== "production", { info: () => {}, error: console.error });
  const { ConfigError, parseConfig } = await import("../lib/config");
  let config;
  try {
    config = parseConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`audit: invalid configuration:\n${error.problems.map((p) => `  ${p}`).join("\n")}`);
    return 1;
  }
  const { databaseUrl, dataDir } = config.store;
  if (!databaseUrl && !fs.existsSync(path.join(dataDir, "pglite", "PG_VERSION"))) {
    console.error(`audit: no embedded store at ${path.resolve(dataDir)} (DATA_DIR); nothing to export`);
    return 1;
  }
  const { openDb } = await import("../lib/store/db");
  const { StoreLockedError } = await import("../lib/store/pglite-lock");
  const { readChain } = await import("../lib/audit/chain");
  const { exportLine } = await import("../lib/audit/record");
  let db;
  try {
    db = await openDb({ databaseUrl, dataDir });
  } catch (error) {
    if (error instanceof StoreLockedError) {
      console.error(`audit: ${error.message}`);
      return 1;
    }
    throw error;
  }
  try {
    const [migrated] = await db.query("SELECT 1 FROM schema_migrations WHERE name = '008_audit_chain.sql'");
    if (!migrated) {
      console.error("audit: this store predates the audit chain: start the app once to migrate it");
      return 1;
    }
    const out: NodeJS.WritableStream = file ? fs.createWriteStream(file) : process.stdout;
    let count = 0;
    for await (const record of readChain(db)) {
      if (!out.write(`${exportLine(record)}\n`)) await new Promise<void>((r) => out.once("drain", () => r()));
      count++;
    }
    if (file) await new Promise<void>((resolve, reject) => out.once("error", reject).end(() => resolve()));
    console.error(`audit: exported ${count} record${count === 1 ? "" : "s"}${file ? ` to ${file}` : ""}`);
    return 0;
  } finally {
    await db.close();
  }
}

async function verifyFile(file: string, head: string | undefined): Promise<number> {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  const { verifyChain } = await import("../lib/audit/verify");
  const result = verifyChain(text.split("\n"), head);
  if (result.ok) {
    console.log(`✓ intact: ${result.count} record${result.count === 1 ? "" : "s"}${result.head ? `, head ${result.head.seq} ${result.head.hash}` : ""}${head ? " (the expected head)" : ""}`);
    return 0;
  }
  const where = result.seq !== null ? `record ${result.seq}` : "the chain";
  console.log(`✗ broken at ${where}${result.line ? ` (line ${result.line})` : ""}: ${result.problem}`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`audit: ${error.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error("audit failed:", error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
