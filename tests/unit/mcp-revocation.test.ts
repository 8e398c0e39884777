import { describe, expect, it } from "vitest";
import type { Principal } from "@/lib/protected-resource/principal";
import { readAgentRevocation, recordAgentReenabled, recordAgentRevocationCompleted, recordAgentRevoked } from "@/lib/store/agent-revocations";
import type { Queryable } from "@/lib/store/db";
import { createRevocationCheck } from "@/mcp/revocation";
import { useTestDb } from "../helpers/store";

/**
 * The kill switch's record and the resource server's check of it: which tokens it refuses, when a
 * cached copy is replaced, and that a replayed or concurrent revoke or re-enable changes nothing.
 * Negative cases first.
 */
const db = useTestDb((store) => store.query("DELETE FROM agent_revocations"));
const identity = { agentId: "aurelius", agentClientId: "aurelius-agent" };
const NOW = new Date("2030-01-01T12:00:00.400Z");
const CUT_OFF = Math.floor(NOW.getTime() / 1000) + 1;

function principal(p: Partial<Principal>): Principal {
  return { sub: "aurelius", subjectKind: "agent", actor: null, actorChain: null, clientId: "aurelius-agent", jti: "j1", scopes: ["stock:read"], authorizationDetails: undefined, expiresAt: 1e10, issuedAt: CUT_OFF - 1, confirmation: null, ...p };
}

const agentToken = principal({});
const oboToken = principal({ sub: "alice", subjectKind: "user", actor: "aurelius", clientId: "aurelius-agent" });
const auth0Style = principal({ sub: "auth0|alice", subjectKind: "user", actor: "aurelius-agent", clientId: "aurelius-agent" });
const otherClient = principal({ sub: "alice", subjectKind: "user", actor: "other-agent", clientId: "other-client" });

const revoke = () => recordAgentRevoked(db, { ...identity, clientId: identity.agentClientId, reason: "revoked by Alice from the dashboard", now: NOW });

describe("the revocation check", () => {
  it("refuses every token of a revoked agent: its own, on-behalf-of with act.sub, Auth0-style with azp", async () => {
    await revoke();
    const check = createRevocationCheck({ db, identity });
    for (const p of [agentToken, oboToken, auth0Style, principal({ issuedAt: CUT_OFF + 100 })]) {
      expect(await check.refusal(p)).toBe("The agent's access was revoked: revoked by Alice from the dashboard.");
    }
  });

  it("after a re-enable, refuses tokens issued before the cut-off and those without iat; accepts newer ones", async () => {
    await revoke();
    await recordAgentReenabled(db, identity.agentId, CUT_OFF);
    const check = createRevocationCheck({ db, identity });
    expect(await check.refusal(principal({ issuedAt: CUT_OFF - 1 }))).toBe("The token was issued before the agent's access was revoked.");
    expect(await check.refusal(principal({ issuedAt: null }))).toBe("The token was issued before the agent's access was revoked.");
    expect(await check.refusal(principal({ issuedAt: CUT_OFF }))).toBeUndefined();
  });

  it("leaves other clients' tokens and a never-revoked agent alone", async () => {
    const check = createRevocationCheck({ db, identity });
    expect(await check.refusal(agentToken)).toBeUndefined();
    await revoke();
    expect(await createRevocationCheck({ db, identity }).refusal(otherClient)).toBeUndefined();
  });

  it("a cached copy is replaced after the TTL without any notice, and at once on invalidate()", async () => {
    let clock = 0;
    const check = createRevocationCheck({ db, identity, ttlMs: 250, now: () => clock });
    expect(await check.refusal(agentToken)).toBeUndefined();
    await revoke();
    clock = 249;
    expect(await check.refusal(agentToken)).toBeUndefined(); // still the cached copy
    clock = 250;
    expect(await check.refusal(agentToken)).toMatch(/revoked/);
    await recordAgentReenabled(db, identity.agentId, CUT_OFF);
    check.invalidate();
    expect(await check.refusal(principal({ issuedAt: CUT_OFF }))).toBeUndefined();
  });

  it("a record handed over by the kill switch applies to the very next call, without a store read", async () => {
    let reads = 0;
    const counting: Queryable = { query: (sql, params) => (reads++, db.query(sql, params)) };
    const check = createRevocationCheck({ db: counting, identity, ttlMs: 250, now: () => 0 });
    expect(await check.refusal(agentToken)).toBeUndefined();
    const { record } = await revoke();
    check.invalidate(record);
    expect(await check.refusal(agentToken)).toMatch(/revoked/);
    expect(reads).toBe(1);
  });

  it("reads the store once per TTL, not once per call, and only for the agent's tokens", async () => {
    let reads = 0;
    const counting: Queryable = { query: (sql, params) => (reads++, db.query(sql, params)) };
    const check = createRevocationCheck({ db: counting, identity, ttlMs: 250, now: () => 0 });
    await Promise.all(Array.from({ length: 50 }, () => check.refusal(agentToken)));
    await check.refusal(otherClient);
    expect(reads).toBe(1);
  });

  it("a store error is thrown (the gate answers 503), never taken as 'not revoked'", async () => {
    const broken: Queryable = { query: async () => Promise.reject(new Error("connection lost")) };
    await expect(createRevocationCheck({ db: broken, identity }).refusal(agentToken)).rejects.toThrow("connection lost");
  });
});

describe("the revocation record", () => {
  it("a replayed revoke changes nothing; concurrent revokes: exactly one changes it", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => revoke()));
    expect(results.filter((r) => r.changed)).toHaveLength(1);
    const first = results.find((r) => r.changed)!.record;
    expect(first).toMatchObject({ status: "revoked", notBefore: CUT_OFF, completedAt: null, version: 1 });
    expect((await revoke()).changed).toBe(false);
    expect((await readAgentRevocation(db, identity.agentId))!.version).toBe(1);
  });

  it("completion and re-enable happen once; a later revoke starts a new revocation", async () => {
    await revoke();
    await recordAgentRevocationCompleted(db, identity.agentId);
    expect((await readAgentRevocation(db, identity.agentId))!.completedAt).not.toBeNull();
    const reenabled = await Promise.all([recordAgentReenabled(db, identity.agentId, CUT_OFF + 5), recordAgentReenabled(db, identity.agentId, CUT_OFF + 9)]);
    expect(reenabled.filter(Boolean)).toHaveLength(1);
    expect(reenabled.find(Boolean)).toMatchObject({ status: "enabled", version: 2 });
    const again = await recordAgentRevoked(db, { ...identity, clientId: identity.agentClientId, reason: "again", now: new Date(NOW.getTime() + 60_000) });
    expect(again).toMatchObject({ changed: true, record: { status: "revoked", reason: "again", completedAt: null, reenabledAt: null, version: 3 } });
  });
});
