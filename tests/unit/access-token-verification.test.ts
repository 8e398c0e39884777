import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGate } from "../../mcp/gate";
import { remoteKeys } from "../../lib/protected-resource/issuer-keys";
import { ProtocolError } from "../../lib/errors";
import { verifyAccessToken, type VerifyOptions } from "../../lib/protected-resource/verify-access-token";
import { freePort } from "../helpers/app-server";
import { startTestIssuer, type TestIssuer } from "../helpers/jwks-server";

const AUDIENCE = "http://localhost:3999/mcp";
let issuer: TestIssuer;
let options: VerifyOptions;

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: AUDIENCE });
  options = { issuer: issuer.issuer, audience: AUDIENCE, keys: remoteKeys(issuer.jwksUri), agentId: "aurelius", agentClientId: "aurelius-agent" };
});
afterAll(() => issuer.close());

async function codeOf(token: string, o: VerifyOptions = options): Promise<string> {
  try {
    await verifyAccessToken(token, o);
    return "accepted";
  } catch (error) {
    return error instanceof ProtocolError ? error.code : `unexpected ${String(error)}`;
  }
}

describe("verifyAccessToken refuses", () => {
  it.each<[string, () => Promise<string> | string]>([
    ["garbage", () => "not-a-jwt"],
    ["alg none", () => issuer.mintUnsigned()],
    ["HS256 signed with the public key", () => issuer.mintHs256WithPublicKey()],
    ["a key outside the JWKS", () => issuer.mintWithForeignKey()],
    ["a tampered payload", async () => issuer.tamper(await issuer.mint(), { sub: "mallory" })],
    ["an added scope", async () => issuer.tamper(await issuer.mint(), { scope: "openid stock:read stock:trade" })],
    ["an expired token (beyond the 30 s leeway)", () => issuer.mint({}, { expiresIn: -31 })],
    ["a token without exp", () => issuer.mint({}, { expiresIn: null })],
    ["another issuer", () => issuer.mint({}, { issuer: "https://evil.example/" })],
    ["another audience", () => issuer.mint({}, { audience: "https://other.example/mcp" })],
    ["no audience", () => issuer.mint({}, { audience: null })],
    ["a token that is not an access token (typ)", () => issuer.mint({}, { typ: "dpop+jwt" })],
    ["a malformed act claim", () => issuer.mint({ act: "aurelius" })],
    ["a numeric scope", () => issuer.mint({ scope: 5 })],
    ["a scope array with a non-string entry", () => issuer.mint({ scope: ["stock:read", 7] })],
    ["a scope object", () => issuer.mint({ scope: { "stock:trade": true } })],
    ["a null scope", () => issuer.mint({ scope: null })],
    ["a non-array authorization_details", () => issuer.mint({ authorization_details: { type: "stock_trade" } })],
    ["a token not yet valid", () => issuer.mint({ nbf: Math.floor(Date.now() / 1000) + 120 })],
  ])("%s with invalid_token", async (_name, make) => {
    expect(await codeOf(await make())).toBe("invalid_token");
  });

  it("reports unreachable keys as temporarily_unavailable, not invalid_token", async () => {
    const port = await freePort();
    const offline = { ...options, keys: remoteKeys(`http://127.0.0.1:${port}/jwks`) };
    expect(await codeOf(await issuer.mint(), offline)).toBe("temporarily_unavailable");
  });
});

describe("verifyAccessToken accepts", () => {
  it("an on-behalf-of token, keeping the whole actor chain", async () => {
    const act = { sub: "aurelius", act: { sub: "scheduler" } };
    const details = [{ type: "stock_trade", order_id: "ord_abcdefghij012345" }];
    const p = await verifyAccessToken(
      await issuer.mint({ sub: "alice", act, scope: "openid stock:read stock:trade", client_id: "aurelius-agent", authorization_details: details }),
      options,
    );
    expect(p).toMatchObject({ sub: "alice", subjectKind: "user", actor: "aurelius", actorChain: act, clientId: "aurelius-agent", authorizationDetails: details });
    expect(p.scopes).toEqual(["openid", "stock:read", "stock:trade"]);
    expect(p.jti).toMatch(/^[0-9a-f]{24}$/);
  });

  it.each([
    ["a space-separated string", "openid stock:read stock:trade"],
    // WSO2 with enableJwtScopeAsArray (identity-inbound-auth-oauth JWTTokenIssuer).
    ["a JSON array of strings", ["openid", "stock:read", "stock:trade"]],
  ])("scope as %s", async (_name, scope) => {
    const p = await verifyAccessToken(await issuer.mint({ sub: "alice", act: { sub: "aurelius" }, scope }), options);
    expect(p.scopes).toEqual(["openid", "stock:read", "stock:trade"]);
  });

  it("RS256 and a 20 s clock skew", async () => {
    expect(await codeOf(await issuer.mint({}, { alg: "RS256", expiresIn: -20 }))).toBe("accepted");
  });

  it.each([
    ["the configured agent", { sub: "aurelius" }],
    ["a WSO2 agent (aut AGENT)", { sub: "a1b2c3", aut: "AGENT" }],
    ["a client-credentials token (sub = client_id)", { sub: "svc", client_id: "svc" }],
    ["an Auth0 client-credentials token", { sub: "abc@clients", azp: "abc", gty: "client-credentials" }],
  ])("%s as an agent subject", async (_name, claims) => {
    expect((await verifyAccessToken(await issuer.mint(claims), options)).subjectKind).toBe("agent");
  });

  it("an Auth0-style user token: actor from azp", async () => {
    const p = await verifyAccessToken(await issuer.mint({ sub: "auth0|alice", azp: "aurelius-agent" }), options);
    expect(p).toMatchObject({ subjectKind: "user", actor: "aurelius-agent", actorChain: null, clientId: "aurelius-agent" });
  });
});

describe("the gate", () => {
  const metadata = "http://localhost:3999/.well-known/oauth-protected-resource/mcp";
  const gate = () =>
    createGate({
      resourceUrl: AUDIENCE,
      resourceMetadataUrl: metadata,
      allowedOrigins: ["http://localhost:3999"],
      verify: (t) => verifyAccessToken(t, options),
      proofs: { useOnce: async () => true },
    });
  const req = (headers: Record<string, string>, url = AUDIENCE) => new Request(url, { method: "POST", headers });

  it("answers 403 to a foreign Origin before looking at the token", async () => {
    const res = (await gate()(req({ origin: "https://evil.example", authorization: `Bearer ${await issuer.mint()}` }))) as Response;
    expect(res.status).toBe(403);
  });

  it("answers 400 invalid_request to a token in the query string", async () => {
    const res = (await gate()(req({}, `${AUDIENCE}?access_token=${await issuer.mint()}`))) as Response;
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer error="invalid_request", error_description="Send the access token in the Authorization header, never in the URL.", resource_metadata="${metadata}"`,
    );
  });

  it("answers 401 without an error code when no token is sent", async () => {
    const res = (await gate()(req({}))) as Response;
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer scope="stock:read", resource_metadata="${metadata}"`);
  });

  it("answers 400 invalid_request to a malformed Bearer header", async () => {
    const res = (await gate()(req({ authorization: "Bearer a b" }))) as Response;
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_request"/);
  });

  it("answers 401 invalid_token to a bad token, and returns AuthInfo for a good one", async () => {
    const bad = (await gate()(req({ authorization: `Bearer ${issuer.mintUnsigned()}` }))) as Response;
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="/);
    const good = await gate()(req({ origin: "http://localhost:3999", authorization: `Bearer ${await issuer.mint({ scope: "openid stock:read" })}` }));
    expect(good).not.toBeInstanceOf(Response);
    expect(good).toMatchObject({ scopes: ["openid", "stock:read"], resourceMetadataUrl: metadata });
  });
});
