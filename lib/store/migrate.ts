import "server-only";
import fs from "node:fs";
import path from "node:path";
import type { Db } from "./db";

/**
 * Applies the SQL files in lib/store/migrations in name order, each once, each in its own
 * transaction. The files are plain PostgreSQL that PGlite and a real server both run.
 */
export const MIGRATIONS_DIR = path.join(/*turbopackIgnore: true*/ process.cwd(), "lib", "store", "migrations");

/** A migration file: its name (recorded in schema_migrations once applied) and its statements. */
export interface Migration {
  name: string;
  statements: string[];
}

/** The bookkeeping table; the SQL that records a migration as applied takes its name as $1. */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
       name TEXT PRIMARY KEY,
       applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
     )`;
export const RECORD_MIGRATION = "INSERT INTO schema_migrations (name) VALUES ($1)";

/** The migrations in `dir`, in the order they apply. */
export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(/*turbopackIgnore: true*/ dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name) => ({
      name,
      statements: splitStatements(fs.readFileSync(/*turbopackIgnore: true*/ path.join(dir, name), "utf8")),
    }));
}

export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  await db.exec(MIGRATIONS_TABLE);
  const applied = new Set(
    (await db.query<{ name: string }>("SELECT name FROM schema_migrations")).map((r) => r.name),
  );
  const ran: string[] = [];
  for (const migration of readMigrations(dir)) {
    if (applied.has(migration.name)) continue;
    await db.transaction(async (tx) => {
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query(RECORD_MIGRATION, [migration.name]);
    });
    ran.push(migration.name);
  }
  return ran;
}

/** Splits a migration on semicolons at line ends; migrations keep to one statement per `;\n`. */
function splitStatements(sql: string): string[] {
  return sql
    .replace(/--[^\n]*/g, "")
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}
