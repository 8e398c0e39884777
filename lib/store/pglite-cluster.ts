import "server-only";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { MIGRATIONS_TABLE, RECORD_MIGRATION, type Migration } from "./migrate";
import { isRunning } from "./pglite-lock";

/**
 * Creates a PGlite cluster on disk without keeping initdb's memory: a fresh cluster grows the
 * WebAssembly memory by about 700 MiB, which the process never hands back, so a short-lived child
 * process (pglite-init.mjs) creates it and applies the migrations, and the server then opens it as
 * it would open any existing store.
 *
 * The child works in a directory of its own next to the cluster's (`pglite.init-<pid>-<n>`), and
 * only a complete cluster is renamed into place: a start killed half-way leaves a directory that
 * the next start deletes, never a half-made store. Two processes starting on one new data
 * directory at once both create a cluster; the first rename wins, and the other process drops its
 * own and opens the winner's.
 */
export const INIT_SCRIPT = path.join(/*turbopackIgnore: true*/ process.cwd(), "lib", "store", "pglite-init.mjs");

/** Whether `dir` holds a cluster (initdb writes PG_VERSION; a cluster only appears here complete). */
export function hasCluster(dir: string): boolean {
  return fs.existsSync(path.join(dir, "PG_VERSION"));
}

let counter = 0;

/** Makes sure `dir` holds a migrated cluster: "existing" if it had one, "created" if this call made it, "joined" if another process made it meanwhile. */
export async function ensureCluster(
  dir: string,
  migrations: Migration[],
  script = INIT_SCRIPT,
): Promise<"existing" | "created" | "joined"> {
  if (hasCluster(dir)) return "existing";
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  removeAbandonedInits(dir);
  setAsideIncomplete(dir);
  const work = `${dir}.init-${process.pid}-${++counter}`;
  try {
    await runInit(script, work, migrations);
    try {
      fs.renameSync(work, dir);
      return "created";
    } catch (error) {
      // Another process renamed its cluster into place first: use that one.
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === "ENOTEMPTY" || code === "EEXIST") && hasCluster(dir)) return "joined";
      throw error;
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Runs the init script on `work` with the migrations; rejects with what it printed when it fails. */
function runInit(script: string, work: string, migrations: Migration[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // Without the parent's execArgv (inspector, loaders): a plain Node process.
    const child = spawn(process.execPath, [script, work], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`creating the PGlite store failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr.trim()}` : ""}`));
    });
    child.stdin.end(JSON.stringify({ setup: MIGRATIONS_TABLE, record: RECORD_MIGRATION, migrations }));
  });
}

/** Deletes the work directories of inits whose process has ended (killed half-way). */
function removeAbandonedInits(dir: string): void {
  const prefix = `${path.basename(dir)}.init-`;
  for (const name of fs.readdirSync(path.dirname(dir))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split("-")[0]);
    if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) continue;
    fs.rmSync(path.join(path.dirname(dir), name), { recursive: true, force: true });
  }
}

/**
 * A directory in the cluster's place without PG_VERSION is no store (an init that ran in place
 * and was stopped): it is moved aside, not deleted, and an empty one is removed.
 */
function setAsideIncomplete(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  // Another process may have renamed its cluster into place since the caller looked.
  if (entries.includes("PG_VERSION")) return;
  if (entries.length === 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  const aside = `${dir}.incomplete-${Date.now()}`;
  fs.renameSync(dir, aside);
  console.warn(`[store] ${dir} held no complete PGlite store: moved to ${aside}, creating a new one.`);
}
