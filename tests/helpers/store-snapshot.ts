import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Db } from "@/lib/store/db";

/**
 * The migrated store snapshot of a run. A fresh PGlite cluster takes seconds to create (initdb)
 * and more to migrate, so the first store of a run is created and migrated once and saved as a
 * snapshot (keyed by the migrations' content); every later one starts from it: the lib-level
 * tests' stores (tests/helpers/store.ts) and the data directories of the apps that the tests and
 * the benchmarks start (`seedDataDir`). It loads neither vitest nor, until it makes a snapshot,
 * the app's server-only store modules, so that the benchmarks (tsx, outside vitest) can load it.
 */
const ROOT = path.resolve(__dirname, "..", "..");
const SNAPSHOT_DIR = path.join(ROOT, ".next-test-pglite");
const MIGRATIONS_DIR = path.join(ROOT, "lib", "store", "migrations");
const snapshotPath = () => path.join(SNAPSHOT_DIR, `${migrationsHash()}.tar`);

/** A migrated store: in memory unless a directory is given (a new one starts from the snapshot). */
export async function openTestDb(dataDir = "memory://"): Promise<Db> {
  const [{ openDb }, { migrate }] = await Promise.all([import("@/lib/store/db"), import("@/lib/store/migrate")]);
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
    const file = snapshotPath();
    if (fs.existsSync(file)) return file;
    const [{ openDb }, { migrate }] = await Promise.all([import("@/lib/store/db"), import("@/lib/store/migrate")]);
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
 * absolute names; tar strips the leading `/`, which leaves them relative to `pglite/`. Outside
 * vitest (the benchmarks) only a snapshot that a test run made is used; without one the app
 * creates its store itself.
 */
export async function seedDataDir(dataDir: string): Promise<void> {
  const target = path.join(dataDir, "pglite");
  if (fs.existsSync(path.join(target, "PG_VERSION"))) return;
  if (!process.env.VITEST && !fs.existsSync(snapshotPath())) return;
  const file = await migratedSnapshotFile();
  fs.mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xf", file, "-C", target], { stdio: ["ignore", "ignore", "ignore"] });
}

function migrationsHash(): string {
  const hash = createHash("sha256");
  for (const name of fs.readdirSync(MIGRATIONS_DIR).sort()) hash.update(name).update(fs.readFileSync(path.join(MIGRATIONS_DIR, name)));
  return hash.digest("hex").slice(0, 16);
}
