import "server-only";
import fs from "node:fs";
import path from "node:path";

/**
 * PGlite runs PostgreSQL inside the process that opens it: two processes on one data directory
 * corrupt it. A lock file beside the cluster names the process that has it open; another process
 * (the audit export, a second app) is refused with a clear error instead. A lock left by a process
 * that no longer runs (kill -9) is taken over.
 */
export class StoreLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the embedded store at ${dataDir} is open in process ${pid} (the app?): stop it first, or use DATABASE_URL for a PostgreSQL server that many processes can share`);
    this.name = "StoreLockedError";
  }
}

export interface StoreLock {
  release(): void;
}

export function lockDataDir(dataDir: string): StoreLock {
  const file = path.join(dataDir, "pglite.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return { release: () => releaseIfOurs(file) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number.parseInt(readOr(file, ""), 10);
    // This process opened the store before (a restart of the runtime in one process): one owner.
    if (holder === process.pid) return { release: () => undefined };
    if (Number.isSafeInteger(holder) && holder > 0 && isRunning(holder)) throw new StoreLockedError(dataDir, holder);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`could not lock the embedded store at ${dataDir}`);
}

function releaseIfOurs(file: string): void {
  if (Number.parseInt(readOr(file, ""), 10) === process.pid) fs.rmSync(file, { force: true });
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

/** Whether a process with this id exists (one of another user counts: EPERM). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
