import "server-only";
import type { Queryable } from "../lib/store/db";
import type { ProofReplayStore } from "./dpop";

/**
 * The DPoP `jti` replay store (RFC 9449 §11.1) on the app's database (table dpop_proofs,
 * migration 006): a proof is accepted once per (key thumbprint, jti) until it expires. The insert
 * is the check (primary key, ON CONFLICT DO NOTHING), so two instances racing with the same proof
 * cannot both accept it, and a restart forgets nothing. Expired rows are deleted at most once a
 * minute, on the way through.
 */
const PURGE_EVERY_MS = 60_000;

export function createStoreReplayStore(db: Queryable, now: () => number = Date.now): ProofReplayStore {
  let lastPurge = 0;
  return {
    async useOnce(jkt, jti, expiresAt) {
      if (now() - lastPurge >= PURGE_EVERY_MS) {
        lastPurge = now();
        await db.query("DELETE FROM dpop_proofs WHERE expires_at < $1", [new Date(now())]);
      }
      const rows = await db.query("INSERT INTO dpop_proofs (jkt, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jkt, jti) DO NOTHING RETURNING jti", [jkt, jti, expiresAt]);
      return rows.length === 1;
    },
  };
}
