import { afterAll, beforeAll, beforeEach } from "vitest";
import type { Db } from "@/lib/store/db";
import { openTestDb } from "./store-snapshot";

export { openTestDb, seedDataDir } from "./store-snapshot";

// Stores for lib-level tests, each started from the run's migrated snapshot
// (tests/helpers/store-snapshot.ts). A test file opens one store and empties it between cases
// (`emptyTables`; `useTestDb` registers the hooks).

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
