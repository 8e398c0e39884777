import "server-only";
import { createHash } from "node:crypto";
import { errors, type Adapter, type AdapterPayload } from "oidc-provider";
import type { Queryable } from "../store/db";

/**
 * oidc-provider's storage adapter on the app's store (table idp_models), so that pending CIBA
 * requests, grants and consumed ids survive a restart. One row per model instance; `payload` is
 * oidc-provider's own JSON; grant_id, user_code and uid are the secondary lookups the Adapter
 * interface needs (revokeByGrantId, findByUserCode, findByUid).
 *
 * Expired rows are not hidden here: oidc-provider checks `exp` itself, and for CIBA it needs the
 * expired request to answer `expired_token` (CIBA Core §11) instead of `invalid_grant`. A sweep
 * deletes rows some time after they expired.
 *
 * The id of a bearer artifact (a refresh token, a code, an auth_req_id, an opaque access token) is
 * the artifact itself: those rows are keyed by its SHA-256 (`sha256:<base64url>`) and stored
 * without `jti`, which find() puts back from the value it was asked for: a copy of the store
 * holds none of these tokens. Models found by another key (a Session by its uid, a DeviceCode by
 * its user code) need their `jti` in the row and keep it, so Session rows still hold the session
 * cookie's value, and Interaction rows their interaction cookie's.
 */
export const EXPIRED_RETENTION_SECONDS = 60 * 60;

/** The models whose id is a bearer value, found only by that value. */
export const HASHED_MODELS: ReadonlySet<string> = new Set([
  "AccessToken",
  "AuthorizationCode",
  "RefreshToken",
  "ClientCredentials",
  "BackchannelAuthenticationRequest",
  "PushedAuthorizationRequest",
  "PreAuthorizedCode",
]);

/** The key a hashed model's row is stored under (migration 015 computes the same in SQL). */
export const hashedId = (id: string): string => `sha256:${createHash("sha256").update(id).digest("base64url")}`;

export function createAdapterFactory(db: Queryable): (model: string) => Adapter {
  return (model) => new StoreAdapter(db, model);
}

class StoreAdapter implements Adapter {
  private readonly hashed: boolean;

  constructor(
    private readonly db: Queryable,
    private readonly model: string,
  ) {
    this.hashed = HASHED_MODELS.has(model);
  }

  private key(id: string): string {
    return this.hashed ? hashedId(id) : id;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === "number" ? new Date(Date.now() + expiresIn * 1000).toISOString() : null;
    const stored = this.hashed ? { ...payload, jti: undefined } : payload;
    await this.db.query(
      `INSERT INTO idp_models (model, id, payload, grant_id, user_code, uid, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
         user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
      [this.model, this.key(id), JSON.stringify(stored), payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresAt],
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const payload = await this.findWhere("id = $2", this.key(id));
    return payload && this.hashed ? { ...payload, jti: id } : payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findWhere("uid = $2", uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findWhere("user_code = $2", userCode);
  }

  /**
   * Marks a one-time artifact (an auth_req_id, a code) used, once. oidc-provider checks
   * `consumed` on the copy it read and then calls this, so concurrent redemptions that all read
   * it unused arrive here together: the conditional update lets exactly one of them through and
   * the others get invalid_grant (CIBA Core §11), also across connections and app instances.
   */
  async consume(id: string): Promise<void> {
    const won = await this.db.query(
      `UPDATE idp_models SET payload = payload || jsonb_build_object('consumed', $3::bigint)
       WHERE model = $1 AND id = $2 AND payload->'consumed' IS NULL
       RETURNING id`,
      [this.model, this.key(id), Math.floor(Date.now() / 1000)],
    );
    if (won.length === 0) throw new errors.InvalidGrant(`${this.model} already consumed or gone`);
  }

  async destroy(id: string): Promise<void> {
    await this.db.query("DELETE FROM idp_models WHERE model = $1 AND id = $2", [this.model, this.key(id)]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.query("DELETE FROM idp_models WHERE model = $1 AND grant_id = $2", [this.model, grantId]);
  }

  private async findWhere(condition: string, value: string): Promise<AdapterPayload | undefined> {
    const rows = await this.db.query<{ payload: AdapterPayload }>(
      `SELECT payload FROM idp_models WHERE model = $1 AND ${condition} LIMIT 1`,
      [this.model, value],
    );
    return rows[0]?.payload;
  }
}

/** Deletes rows that expired more than EXPIRED_RETENTION_SECONDS ago. Returns how many. */
export async function sweepExpiredModels(db: Queryable): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `WITH gone AS (
       DELETE FROM idp_models WHERE expires_at < now() - make_interval(secs => $1) RETURNING 1
     ) SELECT count(*)::int AS n FROM gone`,
    [EXPIRED_RETENTION_SECONDS],
  );
  return rows[0]?.n ?? 0;
}
