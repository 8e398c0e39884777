import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { openDb, type Db } from "@/lib/store/db";
import { migrate, MIGRATIONS_DIR } from "@/lib/store/migrate";

/**
 * Stores for lib-level tests. A fresh PGlite cluster takes seconds to create (initdb) and more to
 * migrate, so the first in-memory store of a run is created and migrated once and saved as a
 * snapshot (keyed by the migrations' content); every later one starts from that snapshot.
 * A test file opens one store and empties it between cases (`emptyTables`). An app that a test
 * starts gets the same snapshot unpacked into its data directory (`seedDataDir`).
 */
const ROOT = path.resolve(__dirname, "..", "..");
const SNAPSHOT_DIR = path.join(ROOT, ".next-test-pglite");

/** A migrated store: in memory unless a directory is given (a new one starts from the snapshot). */
export async function openTestDb(dataDir = "memory://"): Promise<Db> {
  const fresh = dataDir.startsWith("memory://") || !fs.existsSync(path.join(dataDir, "pglite", "PG_VERSION"));
  const db = await openDb({ dataDir, initialData: fresh ? await migratedSnapshot() : undefined });
  await migrate(db); // nothing to do unless the snapshot is older than a migration
  return db;
}

let snapshot: Promise<Blob> | undefined;

function migratedSnapshot(): Promise<Blob> {
  snapshot ??= migratedSnapshotFile().then((file) => new Blob([fs.readFileSync(file)]));
  return snapshot;
}

let snapshotFile: Promise<string> | undefined;

/** The snapshot's tar file, made by this process if no test file of the run has made it yet. */
function migratedSnapshotFile(): Promise<string> {
  snapshotFile ??= (async () => {
    const file = path.join(SNAPSHOT_DIR, `${migrationsHash()}.tar`);
    if (fs.existsSync(file)) return file;
    const db = await openDb({ dataDir: "memory://" });
    await migrate(db);
    const dump = await db.dump!();
    await db.close();
    // Parallel test files may write it at the same moment: each writes its own file, then renames.
    fs.mkdirSync(SNAPSHOT_DIR, { recursive: true });
    const partial = `${file}.${process.pid}`;
    fs.writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(partial, file);
    return file;
  })();
  return snapshotFile;
}

/**
 * Gives an app's data directory a migrated store, so that the app opens it instead of creating
 * one (initdb takes seconds and hundreds of MiB). The dump holds the cluster's files with
 * absolute names; tar strips the leading `/`, which leaves them relative to `pglite/`.
 */
export async function seedDataDir(dataDir: string): Promise<void> {
  const target = path.join(dataDir, "pglite");
  if (fs.existsSync(path.join(target, "PG_VERSION"))) return;
  const file = await migratedSnapshotFile();
  fs.mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xf", file, "-C", target], { stdio: ["ignore", "ignore", "ignore"] });
}

function migrationsHash(): string {
  const hash = createHash("sha256");
  for (const name of fs.readdirSync(MIGRATIONS_DIR).sort()) hash.update(name).update(fs.readFileSync(path.join(MIGRATIONS_DIR, name)));
  return hash.digest("hex").slice(0, 16);
}

/**
 * Deletes every row except in `kept` (the schema's own bookkeeping always stays). DELETE rather
 * than TRUNCATE: TRUNCATE makes new files for every table and index, which in PGlite's in-memory
 * file system costs more than the few rows a test leaves. Tables that other rows still reference
 * are emptied in a later pass.
 */
export async function emptyTables(db: Db, kept: Iterable<string> = []): Promise<void> {
  const keep = new Set(["schema_migrations", ...kept]);
  let tables = (await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    .map((t) => t.tablename)
    .filter((t) => !keep.has(t));
  for (let pass = 0; tables.length > 0; pass++) {
    const left: string[] = [];
    for (const table of tables) await db.query(`DELETE FROM "${table}"`).catch(() => left.push(table));
    if (pass > tables.length) throw new Error(`cannot empty ${left.join(", ")}`);
    tables = left;
  }
}

/**
 * One migrated in-memory store for the calling test file: opened before its first case, closed
 * after its last and, when `reset` is given, handed to it before each case. The store returned
 * forwards to the one opened, so a test file can hold it from the start. Called before the file's
 * own hooks, it closes after them (vitest runs afterAll hooks in reverse order): what the file
 * starts on the store in beforeAll it stops in afterAll while the store is still open.
 */
export function useTestDb(reset?: (db: Db) => Promise<unknown>): Db {
  let opened: Db | undefined;
  const db = (): Db => {
    if (!opened) throw new Error("the test store opens before the file's first case");
    return opened;
  };
  beforeAll(async () => {
    opened = await openTestDb();
  });
  afterAll(async () => {
    await opened?.close();
  });
  if (reset) beforeEach(() => reset(db()));
  return {
    get engine() {
      return db().engine;
    },
    query: <T>(sql: string, params?: unknown[]) => db().query<T>(sql, params),
    transaction: (work) => db().transaction(work),
    exec: (sql) => db().exec(sql),
    get dump() {
      return db().dump;
    },
    close: () => db().close(),
  };
}
