import { randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateDPoPKey, type DPoPKey } from "../../lib/auth/dpop";
import { parseConfig } from "../../lib/config";
import type { Db } from "../../lib/store/db";
import { accessTokenHash, DPOP_ALGORITHMS, IAT_WINDOW_SECONDS } from "../../mcp/dpop";
import { createStoreReplayStore } from "../../mcp/dpop-replay";
import { createGate } from "../../mcp/gate";
import { protectedResourceMetadata } from "../../mcp/metadata";
import { remoteKeys } from "../../lib/protected-resource/issuer-keys";
import { verifyAccessToken, type VerifyOptions } from "../../lib/protected-resource/verify-access-token";
import { startTestIssuer, type TestIssuer } from "../helpers/jwks-server";
import { openTestDb } from "../helpers/store";

/**
 * The gate's sender-constraint step (RFC 9449 §7) with the real proof checks (mcp/dpop.ts) and
 * the real store-backed replay table: every refusal with its exact status, error and challenge
 * scheme, negative cases first; then what is accepted.
 */
const RESOURCE = "http://localhost:3999/mcp";
const METADATA = "http://localhost:3999/.well-known/oauth-protected-resource/mcp";
let issuer: TestIssuer;
let options: VerifyOptions;
let db: Db;
let agentKey: DPoPKey;
let otherKey: DPoPKey;

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: RESOURCE });
  options = { issuer: issuer.issuer, audience: RESOURCE, keys: remoteKeys(issuer.jwksUri), agentId: "aurelius", agentClientId: "aurelius-agent" };
  db = await openTestDb();
  agentKey = await generateDPoPKey();
  otherKey = await generateDPoPKey();
});
afterAll(async () => {
  await issuer.close();
  await db.close();
});
beforeEach(async () => {
  await db.query("DELETE FROM dpop_proofs");
});

const gate = () => createGate({ resourceUrl: RESOURCE, resourceMetadataUrl: METADATA, allowedOrigins: ["http://localhost:3999"], verify: (t) => verifyAccessToken(t, options), proofs: createStoreReplayStore(db) });
const OBO = { sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", client_id: "aurelius-agent" };
const boundToken = (key: DPoPKey = agentKey, claims: JWTPayload = OBO) => issuer.mint({ ...claims, cnf: { jkt: key.thumbprint } });
const now = () => Math.floor(Date.now() / 1000);

/** A proof as a client makes it, with any claim or header overridden (undefined removes it). */
async function proof(key: DPoPKey, token: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signWith: CryptoKey = key.privateKey): Promise<string> {
  const payload = Object.fromEntries(
    Object.entries({ jti: randomUUID(), htm: "POST", htu: RESOURCE, iat: now(), ath: accessTokenHash(token), ...claims }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: key.publicJwk, ...header } as never).sign(signWith);
}

const post = (authorization: string, dpop?: string, method = "POST") =>
  new Request(RESOURCE, { method, headers: { authorization, ...(dpop !== undefined ? { dpop } : {}) } });

async function refusal(request: Request): Promise<{ status: number; error: string; challenge: string }> {
  const res = await gate()(request);
  if (!(res instanceof Response)) throw new Error("the gate let the request through");
  return { status: res.status, error: ((await res.json()) as { error: string }).error, challenge: res.headers.get("www-authenticate") ?? "" };
}

describe("a DPoP-bound token is refused", () => {
  it("presented as a bearer token: 401 invalid_token, a Bearer challenge and a DPoP one", async () => {
    const r = await refusal(post(`Bearer ${await boundToken()}`));
    expect(r).toMatchObject({ status: 401, error: "invalid_token" });
    expect(r.challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="[^"]+", DPoP algs="ES256 [^"]*", resource_metadata="/);
  });

  it("presented as a bearer token even with a valid proof next to it", async () => {
    const token = await boundToken();
    expect(await refusal(post(`Bearer ${token}`, await proof(agentKey, token)))).toMatchObject({ status: 401, error: "invalid_token" });
  });

  it.each<[string, (token: string) => Promise<string | undefined>]>([
    ["without a proof", async () => undefined],
    ["with an empty proof header", async () => ""],
    ["with two proofs", async (t) => `${await proof(agentKey, t)}, ${await proof(agentKey, t)}`],
    ["with a proof that is not a JWS", async () => "not.a.jws!"],
    ["with typ jwt", (t) => proof(agentKey, t, {}, { typ: "jwt" })],
    ["without typ", (t) => proof(agentKey, t, {}, { typ: undefined })],
    ["signed by another key than the token is bound to", (t) => proof(otherKey, t)],
    ["whose jwk is not the key that signed it", (t) => proof(agentKey, t, {}, {}, otherKey.privateKey)],
    ["for another method (htm GET)", (t) => proof(agentKey, t, { htm: "GET" })],
    ["for another URL (htu)", (t) => proof(agentKey, t, { htu: "http://localhost:3999/api/agent" })],
    ["for the internal URL of the same server", (t) => proof(agentKey, t, { htu: "http://127.0.0.1:41234/mcp" })],
    ["for another origin", (t) => proof(agentKey, t, { htu: "https://localhost:3999/mcp" })],
    ["with a stale iat", (t) => proof(agentKey, t, { iat: now() - IAT_WINDOW_SECONDS - 2 })],
    ["with an iat in the future", (t) => proof(agentKey, t, { iat: now() + IAT_WINDOW_SECONDS + 2 })],
    ["with a wrong ath", (t) => proof(agentKey, t, { ath: accessTokenHash(`${t}x`) })],
    ["without ath", (t) => proof(agentKey, t, { ath: undefined })],
    ["without jti", (t) => proof(agentKey, t, { jti: undefined })],
    ["without iat", (t) => proof(agentKey, t, { iat: undefined })],
  ])("%s: 401 invalid_dpop_proof with a DPoP challenge", async (_name, make) => {
    const token = await boundToken();
    const r = await refusal(post(`DPoP ${token}`, await make(token)));
    expect(r).toMatchObject({ status: 401, error: "invalid_dpop_proof" });
    expect(r.challenge).toMatch(/^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="[^"]+", resource_metadata="/);
  });

  it("with a proof whose jwk carries the private key: 401 invalid_dpop_proof", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const { d: _d, ...publicJwk } = privateJwk;
    const key = { ...agentKey, privateKey, publicJwk: privateJwk, thumbprint: await calculateJwkThumbprint(publicJwk as JWK) } as DPoPKey;
    const token = await boundToken(key);
    expect(await refusal(post(`DPoP ${token}`, await proof(key, token)))).toMatchObject({ status: 401, error: "invalid_dpop_proof" });
  });

  it.each([
    ["HS256", async (token: string) => new SignJWT({ jti: randomUUID(), htm: "POST", htu: RESOURCE, iat: now(), ath: accessTokenHash(token) }).setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: agentKey.publicJwk }).sign(new TextEncoder().encode("a shared secret of 32 characters"))],
    ["none", async (token: string) => `${Buffer.from(JSON.stringify({ alg: "none", typ: "dpop+jwt", jwk: agentKey.publicJwk })).toString("base64url")}.${Buffer.from(JSON.stringify({ jti: randomUUID(), htm: "POST", htu: RESOURCE, iat: now(), ath: accessTokenHash(token) })).toString("base64url")}.`],
  ])("with alg %s: 401 invalid_dpop_proof", async (_alg, make) => {
    const token = await boundToken();
    expect(await refusal(post(`DPoP ${token}`, await make(token)))).toMatchObject({ status: 401, error: "invalid_dpop_proof" });
  });

  it("when its proof is replayed, also after a restart (a new store on the same table)", async () => {
    const token = await boundToken();
    const once = await proof(agentKey, token);
    expect(await gate()(post(`DPoP ${token}`, once))).not.toBeInstanceOf(Response);
    expect(await refusal(post(`DPoP ${token}`, once))).toMatchObject({ status: 401, error: "invalid_dpop_proof" });
    const afterRestart = createGate({ resourceUrl: RESOURCE, resourceMetadataUrl: METADATA, allowedOrigins: [], verify: (t) => verifyAccessToken(t, options), proofs: createStoreReplayStore(db) });
    expect(((await afterRestart(post(`DPoP ${token}`, once))) as Response).status).toBe(401);
    expect((await db.query("SELECT jti FROM dpop_proofs")).length).toBe(1);
  });

  it("when bound by a method this server cannot check (cnf without jkt): 401 invalid_token", async () => {
    const token = await issuer.mint({ ...OBO, cnf: { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } });
    expect(await refusal(post(`Bearer ${token}`))).toMatchObject({ status: 401, error: "invalid_token" });
    expect(await refusal(post(`DPoP ${token}`, await proof(agentKey, token)))).toMatchObject({ status: 401, error: "invalid_token" });
  });

  it("when bound to the DPoP key and also to a certificate it cannot check (jkt + x5t#S256): 401 invalid_token, even with a valid proof", async () => {
    const token = await issuer.mint({ ...OBO, cnf: { jkt: agentKey.thumbprint, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } });
    expect(await refusal(post(`DPoP ${token}`, await proof(agentKey, token)))).toMatchObject({ status: 401, error: "invalid_token" });
  });
});

describe("the DPoP scheme is refused", () => {
  it("for a token that is not DPoP-bound: 401 invalid_token in a DPoP challenge", async () => {
    const token = await issuer.mint(OBO);
    const r = await refusal(post(`DPoP ${token}`, await proof(agentKey, token)));
    expect(r).toMatchObject({ status: 401, error: "invalid_token" });
    expect(r.challenge).toMatch(/^DPoP error="invalid_token"/);
  });

  it("with a malformed Authorization header: 400 invalid_request", async () => {
    const r = await refusal(post("DPoP a b"));
    expect(r).toMatchObject({ status: 400, error: "invalid_request" });
    expect(r.challenge).toMatch(/^DPoP error="invalid_request"/);
  });

  it("for an invalid token before any proof is looked at: 401 invalid_token, no proof recorded", async () => {
    const token = issuer.mintUnsigned({ ...OBO, cnf: { jkt: agentKey.thumbprint } });
    expect(await refusal(post(`DPoP ${token}`, await proof(agentKey, token)))).toMatchObject({ status: 401, error: "invalid_token" });
    expect(await db.query("SELECT jti FROM dpop_proofs")).toEqual([]);
  });
});

describe("accepted", () => {
  it("a DPoP-bound token with a fresh proof from its key, any scheme case, htu normalized", async () => {
    const token = await boundToken();
    for (const [scheme, htu] of [["DPoP", RESOURCE], ["dpop", `${RESOURCE}?x=1#frag`], ["DPOP", "HTTP://LOCALHOST:3999/mcp"]] as const) {
      const auth = await gate()(post(`${scheme} ${token}`, await proof(agentKey, token, { htu })));
      expect(auth).not.toBeInstanceOf(Response);
      expect(auth).toMatchObject({ token, scopes: ["openid", "stock:read", "stock:trade"], extra: { principal: { sub: "alice", confirmation: { jkt: agentKey.thumbprint } } } });
    }
  });

  it("a proof from just inside the iat window", async () => {
    const token = await boundToken();
    expect(await gate()(post(`DPoP ${token}`, await proof(agentKey, token, { iat: now() - IAT_WINDOW_SECONDS + 2 })))).not.toBeInstanceOf(Response);
  });

  it("a bearer token without cnf, ignoring a DPoP header next to it", async () => {
    const token = await issuer.mint(OBO);
    const auth = await gate()(post(`Bearer ${token}`, "garbage"));
    expect(auth).toMatchObject({ extra: { principal: { confirmation: null } } });
  });

  it("the same proof jti from two different keys (the replay key is the pair)", async () => {
    const jti = randomUUID();
    const a = await boundToken(agentKey);
    const b = await boundToken(otherKey);
    expect(await gate()(post(`DPoP ${a}`, await proof(agentKey, a, { jti })))).not.toBeInstanceOf(Response);
    expect(await gate()(post(`DPoP ${b}`, await proof(otherKey, b, { jti })))).not.toBeInstanceOf(Response);
  });
});

describe("the replay table", () => {
  it("keeps a proof at least as long as the iat window, and drops expired rows", async () => {
    let clock = Date.now();
    const store = createStoreReplayStore(db, () => clock);
    expect(await store.useOnce("k", "j1", new Date(clock + (IAT_WINDOW_SECONDS + 1) * 1000))).toBe(true);
    expect(await store.useOnce("k", "j1", new Date(clock + (IAT_WINDOW_SECONDS + 1) * 1000))).toBe(false);
    clock += (IAT_WINDOW_SECONDS + 120) * 1000;
    await store.useOnce("k", "j2", new Date(clock + 1000));
    expect((await db.query<{ jti: string }>("SELECT jti FROM dpop_proofs ORDER BY jti")).map((r) => r.jti)).toEqual(["j2"]);
  });
});

describe("protected resource metadata (RFC 9728 §2)", () => {
  it("advertises the DPoP algorithms and that DPoP is accepted but not required", () => {
    const config = parseConfig({ NODE_ENV: "test", PUBLIC_URL: "http://localhost:3999", DATA_DIR: "memory://" });
    expect(protectedResourceMetadata(config)).toMatchObject({ dpop_signing_alg_values_supported: DPOP_ALGORITHMS, dpop_bound_access_tokens_required: false });
    expect(DPOP_ALGORITHMS).not.toContain("none");
    expect(DPOP_ALGORITHMS.some((alg) => alg.startsWith("HS"))).toBe(false);
  });
});
