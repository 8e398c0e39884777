import { describe, expect, it } from "vitest";
import { createAdapterFactory, EXPIRED_RETENTION_SECONDS, sweepExpiredModels } from "@/lib/idp/adapter";
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
});
