import "server-only";
import { createHash, randomBytes } from "node:crypto";
import type { Queryable } from "../store/db";

/**
 * Alice's dashboard sessions, kept on the server: a random 256-bit id per sign-in, stored only as
 * its SHA-256 with who signed in and until when. A session is valid while its row exists and has
 * not expired; signing out deletes the row, so a copied cookie dies with it.
 */
export interface InvestorSession {
  /** The `sub` of the ID token she signed in with. */
  sub: string;
  name: string;
  expiresAt: Date;
}

const hashOf = (id: string) => createHash("sha256").update(id).digest("base64url");

export async function createSession(db: Queryable, who: { sub: string; name: string }, maxAgeSeconds: number): Promise<{ id: string; session: InvestorSession }> {
  const id = randomBytes(32).toString("base64url");
  const expiresAt = new Date(Date.now() + maxAgeSeconds * 1000);
  await db.query("INSERT INTO app_sessions (id_hash, sub, name, expires_at) VALUES ($1, $2, $3, $4)", [hashOf(id), who.sub, who.name, expiresAt]);
  return { id, session: { sub: who.sub, name: who.name, expiresAt } };
}

export async function findSession(db: Queryable, id: string): Promise<InvestorSession | undefined> {
  const rows = await db.query<{ sub: string; name: string; expires_at: Date }>(
    "SELECT sub, name, expires_at FROM app_sessions WHERE id_hash = $1 AND expires_at > now()",
    [hashOf(id)],
  );
  const row = rows[0];
  return row ? { sub: row.sub, name: row.name, expiresAt: new Date(row.expires_at) } : undefined;
}

/** Ends one session; true when it existed. */
export async function deleteSession(db: Queryable, id: string): Promise<boolean> {
  return (await db.query("DELETE FROM app_sessions WHERE id_hash = $1 RETURNING sub", [hashOf(id)])).length > 0;
}

/** Forgets expired sessions (they are refused anyway; this only keeps the table small). */
export async function sweepSessions(db: Queryable): Promise<number> {
  return (await db.query("DELETE FROM app_sessions WHERE expires_at <= now() RETURNING sub")).length;
}

/** The app's cookie-sealing key: generated once and stored, shared by every instance on the store. */
export async function sealingKey(db: Queryable): Promise<string> {
  const fresh = randomBytes(32).toString("hex");
  await db.query("INSERT INTO app_secrets (name, value) VALUES ('session_seal_key', $1) ON CONFLICT (name) DO NOTHING", [JSON.stringify(fresh)]);
  const rows = await db.query<{ value: string }>("SELECT value FROM app_secrets WHERE name = 'session_seal_key'");
  return rows[0]!.value;
}
