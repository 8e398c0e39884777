import "server-only";
import fs from "node:fs";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import type { Pool, PoolClient } from "pg";
import type { Migration } from "./migrate";
import { ensureCluster } from "./pglite-cluster";
import { lockDataDir, type StoreLock } from "./pglite-lock";

/**
 * One database interface over two engines: PGlite (embedded PostgreSQL, the default, under
 * `.data/`) and a real PostgreSQL server when DATABASE_URL is set. The SQL is the same for both.
 */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly engine: "pglite" | "postgres";
  /** Runs `work` in one transaction: everything it writes commits together or not at all. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a multi-statement script (migrations). */
  exec(sql: string): Promise<void>;
  /** PGlite only: the whole data directory as a tarball, for `OpenOptions.initialData`. */
  dump?(): Promise<Blob>;
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl?: string;
  /** Directory for PGlite; "memory://" keeps it in memory (tests). */
  dataDir: string;
  /** A PGlite data directory dump (`dumpDataDir`) to start from instead of an empty cluster. */
  initialData?: Blob;
  /**
   * PGlite on disk: the migrations that a new cluster gets before it opens. A new cluster is
   * created in a child process (pglite-cluster.ts), which keeps initdb's memory out of this one.
   */
  migrations?: Migration[];
}

/**
 * PGlite runs PostgreSQL's defaults, sized for a server: 128 MB of shared buffers, which PGlite
 * fills at start, and shared memory for 100 connections. This app's store holds a few MB and
 * PGlite serves one connection. Passed at every start, never written into the cluster's files.
 */
const PGLITE_SETTINGS = ["-c", "shared_buffers=8MB", "-c", "max_connections=5"];

export async function openDb(options: OpenOptions): Promise<Db> {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openPglite(options);
}

async function openPglite({ dataDir, initialData, migrations }: OpenOptions): Promise<Db> {
  const { PGlite } = await import("@electric-sql/pglite");
  let target = dataDir;
  let lock: StoreLock | undefined;
  if (!dataDir.startsWith("memory://")) {
    target = path.resolve(dataDir, "pglite");
    // One process at a time on a store (pglite-lock.ts); the lock sits beside the cluster.
    fs.mkdirSync(path.resolve(dataDir), { recursive: true });
    lock = lockDataDir(path.resolve(dataDir));
  }
  let pg: PGlite;
  try {
    if (!dataDir.startsWith("memory://")) {
      // A dump to start from is unpacked by PGlite itself, in this process.
      if (initialData) fs.mkdirSync(target, { recursive: true });
      else await ensureCluster(target, migrations ?? []);
    }
    pg = await PGlite.create(target, {
      // BIGINT (int8) columns hold cents and ids well below 2^53: read them as numbers.
      parsers: { 20: (v: string) => Number(v) },
      loadDataDir: initialData,
      startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS],
    });
  } catch (error) {
    lock?.release();
    throw error;
  }
  const run = async <T>(q: Pick<PGlite, "query">, sql: string, params?: unknown[]) =>
    (await q.query<T>(sql, params as unknown[])).rows;
  return {
    engine: "pglite",
    query: (sql, params) => run(pg, sql, params),
    transaction: (work) => pg.transaction((tx) => work({ query: (sql, params) => run(tx, sql, params) })),
    exec: async (sql) => {
      await pg.exec(sql);
    },
    dump: () => pg.dumpDataDir("none"),
    close: async () => {
      try {
        await pg.close();
      } finally {
        lock?.release();
      }
    },
  };
}

async function openPostgres(url: string): Promise<Db> {
  const { Pool, types } = await import("pg");
  // BIGINT (int8) columns hold cents and ids well below 2^53: read them as numbers.
  types.setTypeParser(20, (v) => Number(v));
  const pool: Pool = new Pool({ connectionString: url, max: 10 });
  const run = async <T>(q: Pool | PoolClient, sql: string, params?: unknown[]) =>
    (await q.query(sql, params)).rows as T[];
  return {
    engine: "postgres",
    query: (sql, params) => run(pool, sql, params),
    transaction: async (work) => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await work({ query: (sql, params) => run(client, sql, params) });
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    close: () => pool.end(),
  };
}
