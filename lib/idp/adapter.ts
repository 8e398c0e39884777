import "server-only";
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
 */
export const EXPIRED_RETENTION_SECONDS = 60 * 60;

export function createAdapterFactory(db: Queryable): (model: string) => Adapter {
  return (model) => new StoreAdapter(db, model);
}

class StoreAdapter implements Adapter {
  constructor(
    private readonly db: Queryable,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === "number" ? new Date(Date.now() + expiresIn * 1000).toISOString() : null;
    await this.db.query(
      `INSERT INTO idp_models (model, id, payload, grant_id, user_code, uid, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
         user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
      [this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresAt],
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.findWhere("id = $2", id);
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
      [this.model, id, Math.floor(Date.now() / 1000)],
    );
    if (won.length === 0) throw new errors.InvalidGrant(`${this.model} already consumed or gone`);
  }

  async destroy(id: string): Promise<void> {
    await this.db.query("DELETE FROM idp_models WHERE model = $1 AND id = $2", [this.model, id]);
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
