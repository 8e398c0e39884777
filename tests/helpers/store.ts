import { openDb, type Db } from "@/lib/store/db";
import { migrate } from "@/lib/store/migrate";

/** A migrated store for lib-level tests: in memory unless a directory is given. */
export async function openTestDb(dataDir = "memory://"): Promise<Db> {
  const db = await openDb({ dataDir });
  await migrate(db);
  return db;
}
