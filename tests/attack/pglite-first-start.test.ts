import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDb } from "@/lib/store/db";
import { migrate, readMigrations } from "@/lib/store/migrate";
import { ensureCluster, hasCluster, INIT_SCRIPT } from "@/lib/store/pglite-cluster";

/**
 * A first start creates the embedded store in a child process and renames it into place only
 * when complete (lib/store/pglite-cluster.ts). Attacked here: the init killed with SIGKILL
 * half-way (its own child, or the whole server), a half-made directory in the store's place,
 * two first starts on one new data directory at once, and an existing store next to leftovers.
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-first-start-"));
const migrations = readMigrations();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const leftovers = (dir: string) => fs.readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`${path.basename(dir)}.init-`));

/** Applied migrations of the store in `dir` (opened as the server opens it), after a migrate that must find nothing to do. */
async function appliedIn(dir: string, extra?: (db: Awaited<ReturnType<typeof openDb>>) => Promise<void>): Promise<string[]> {
  const db = await openDb({ dataDir: path.dirname(dir), migrations });
  try {
    expect(await migrate(db)).toEqual([]);
    await extra?.(db);
    return (await db.query<{ name: string }>("SELECT name FROM schema_migrations ORDER BY name")).map((r) => r.name);
  } finally {
    await db.close();
  }
}

/** The pid of a running init script whose arguments contain `needle`, looked up in /proc. */
function initProcess(needle: string): number | undefined {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(INIT_SCRIPT) && cmdline.includes(needle)) return Number(entry);
    } catch {
      // ended meanwhile
    }
  }
  return undefined;
}

async function until<T>(read: () => T | undefined, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("first start of the embedded store", () => {
  it("the init child killed half-way: the start fails, nothing half-made is left in place", async () => {
    const dir = path.join(root, "killed-child", "pglite");
    const starting = ensureCluster(dir, migrations);
    const failed = expect(starting).rejects.toThrow(/SIGKILL/);
    const pid = await until(() => initProcess(`${dir}.init-`), "the init process");
    // Half-way: initdb has begun writing the cluster's files.
    await until(() => (leftovers(dir).some((n) => fs.existsSync(path.join(path.dirname(dir), n, "base"))) ? true : undefined), "initdb writing");
    process.kill(pid, "SIGKILL");
    await failed;
    expect(fs.existsSync(dir)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  it("the whole server killed half-way, and a half-made store in place: the next start makes a complete one", async () => {
    const dir = path.join(root, "killed-server", "pglite");
    fs.mkdirSync(dir, { recursive: true });
    // An init that ran in place and stopped: files, no PG_VERSION.
    fs.mkdirSync(path.join(dir, "base"));
    fs.writeFileSync(path.join(dir, "postgresql.conf"), "");
    // A server killed with its init: the work directory of a process that is gone. The shell
    // execs node, so the work directory is named after the killed process, as the server's would be.
    const killed = spawn("sh", ["-c", `exec "${process.execPath}" "${INIT_SCRIPT}" "${dir}.init-$$-1"`], { stdio: ["pipe", "ignore", "ignore"] });
    killed.stdin.end(JSON.stringify({ setup: "SELECT 1", record: "SELECT $1", migrations: [] }));
    const work = `${dir}.init-${killed.pid}-1`;
    await until(() => (fs.existsSync(path.join(work, "base")) ? true : undefined), "initdb writing");
    killed.kill("SIGKILL");
    await new Promise((r) => killed.once("exit", r));
    expect(fs.existsSync(work)).toBe(true);

    expect(await ensureCluster(dir, migrations)).toBe("created");
    expect(hasCluster(dir)).toBe(true);
    expect(leftovers(dir)).toEqual([]);
    const aside = fs.readdirSync(path.dirname(dir)).filter((n) => n.startsWith("pglite.incomplete-"));
    expect(aside).toHaveLength(1);
    expect(await appliedIn(dir)).toEqual(migrations.map((m) => m.name));
  });

  it("an existing store loses nothing when a start finds leftovers next to it", async () => {
    const dir = path.join(root, "killed-server", "pglite");
    await appliedIn(dir, async (db) => {
      await db.query("INSERT INTO schema_migrations (name) VALUES ('zzz_kept')");
    });
    fs.mkdirSync(`${dir}.init-999999999-1`);
    expect(await ensureCluster(dir, migrations)).toBe("existing");
    expect(await appliedIn(dir)).toContain("zzz_kept");
  });

  it("two first starts on one new data directory: one store, both open it", async () => {
    const dir = path.join(root, "concurrent", "pglite");
    const results = await Promise.all([ensureCluster(dir, migrations), ensureCluster(dir, migrations)]);
    expect(results.sort()).toEqual(["created", "joined"]);
    expect(leftovers(dir)).toEqual([]);
    expect(fs.readdirSync(path.dirname(dir))).toEqual(["pglite"]);
    expect(await appliedIn(dir)).toEqual(migrations.map((m) => m.name));
  });
});
