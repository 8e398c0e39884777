import { describe, expect, it } from "vitest";
import { createAdapterFactory, EXPIRED_RETENTION_SECONDS, hashedId, HASHED_MODELS, sweepExpiredModels } from "@/lib/idp/adapter";
import { migrate } from "@/lib/store/migrate";
import { useTestDb } from "../helpers/store";

/** oidc-provider's adapter on the store: what the Adapter contract asks, on PGlite. */
const db = useTestDb((store) => store.query("DELETE FROM idp_models"));

describe("store adapter", () => {
  it("finds nothing for unknown ids, and keeps models apart", async () => {
    const adapter = createAdapterFactory(db);
    await adapter("Grant").upsert("g1", { jti: "g1", kind: "Grant" }, 60);
    expect(await adapter("Grant").find("nope")).toBeUndefined();
    expect(await adapter("AccessToken").find("g1")).toBeUndefined();
    expect(await adapter("Grant").find("g1")).toEqual({ jti: "g1", kind: "Grant" });
  });

  it("upserts, consumes once-only artifacts, and destroys", async () => {
    const requests = createAdapterFactory(db)("BackchannelAuthenticationRequest");
    await requests.upsert("r1", { jti: "r1", accountId: "alice" }, 60);
    await requests.upsert("r1", { jti: "r1", accountId: "alice", grantId: "g1" }, 60);
    expect(await requests.find("r1")).toEqual({ jti: "r1", accountId: "alice", grantId: "g1" });
    await requests.consume("r1");
    expect((await requests.find("r1"))?.consumed).toEqual(expect.any(Number));
    await requests.destroy("r1");
    expect(await requests.find("r1")).toBeUndefined();
  });

  it("revokes everything of one grant, and only that", async () => {
    const tokens = createAdapterFactory(db)("AccessToken");
    await tokens.upsert("a", { jti: "a", grantId: "g1" }, 60);
    await tokens.upsert("b", { jti: "b", grantId: "g1" }, 60);
    await tokens.upsert("c", { jti: "c", grantId: "g2" }, 60);
    await tokens.revokeByGrantId("g1");
    expect(await tokens.find("a")).toBeUndefined();
    expect(await tokens.find("b")).toBeUndefined();
    expect(await tokens.find("c")).toEqual({ jti: "c", grantId: "g2" });
  });

  it("looks up by uid and user code", async () => {
    const sessions = createAdapterFactory(db)("Session");
    await sessions.upsert("s1", { jti: "s1", uid: "u1" }, 60);
    expect(await sessions.findByUid("u2")).toBeUndefined();
    expect((await sessions.findByUid("u1"))?.jti).toBe("s1");
    const codes = createAdapterFactory(db)("DeviceCode");
    await codes.upsert("d1", { jti: "d1", userCode: "ABCD-EFGH" }, 60);
    expect((await codes.findByUserCode("ABCD-EFGH"))?.jti).toBe("d1");
  });

  it("still returns a recently expired request (expired_token), and the sweep removes old ones", async () => {
    const requests = createAdapterFactory(db)("BackchannelAuthenticationRequest");
    await requests.upsert("recent", { jti: "recent" }, -5);
    await requests.upsert("old", { jti: "old" }, -(EXPIRED_RETENTION_SECONDS + 60));
    await requests.upsert("forever", { jti: "forever" });
    expect(await requests.find("recent")).toEqual({ jti: "recent" });
    expect(await sweepExpiredModels(db)).toBe(1);
    expect(await requests.find("old")).toBeUndefined();
    expect(await requests.find("recent")).toEqual({ jti: "recent" });
    expect(await requests.find("forever")).toEqual({ jti: "forever" });
  });

  it.each([...HASHED_MODELS])("keeps no %s a copy of the store could present: the row is keyed by its hash, without jti", async (model) => {
    const adapter = createAdapterFactory(db)(model);
    const value = "rt_Secret-Value_0123456789abcdefABCDEF";
    await adapter.upsert(value, { jti: value, kind: model, grantId: "g1" }, 60);
    const rows = await db.query<{ id: string; payload: unknown }>("SELECT id, payload FROM idp_models");
    expect(rows).toEqual([{ id: hashedId(value), payload: { kind: model, grantId: "g1" } }]);
    expect(JSON.stringify(rows)).not.toContain(value);
    // Found by the value itself, with its jti back; the stored key is no way in.
    expect(await adapter.find(value)).toEqual({ jti: value, kind: model, grantId: "g1" });
    expect(await adapter.find(hashedId(value))).toBeUndefined();
    await adapter.consume(value);
    await expect(adapter.consume(value)).rejects.toMatchObject({ error: "invalid_grant" });
    await adapter.destroy(value);
    expect(await adapter.find(value)).toBeUndefined();
  });

  it("moves rows stored by value before the hashing (migration 015) and leaves the others", async () => {
    await db.query(
      `INSERT INTO idp_models (model, id, payload) VALUES
         ('RefreshToken', 'legacy-refresh-token', '{"jti":"legacy-refresh-token","grantId":"g9"}'),
         ('Grant', 'g9', '{"jti":"g9","kind":"Grant"}')`,
    );
    await db.query("DELETE FROM schema_migrations WHERE name LIKE '015%'");
    expect(await migrate(db)).toEqual([expect.stringMatching(/^015/)]);
    expect(await db.query("SELECT model, id FROM idp_models ORDER BY model")).toEqual([
      { model: "Grant", id: "g9" },
      { model: "RefreshToken", id: hashedId("legacy-refresh-token") },
    ]);
    expect(await createAdapterFactory(db)("RefreshToken").find("legacy-refresh-token")).toEqual({ jti: "legacy-refresh-token", grantId: "g9" });
    expect(await createAdapterFactory(db)("Grant").find("g9")).toEqual({ jti: "g9", kind: "Grant" });
  });
});
