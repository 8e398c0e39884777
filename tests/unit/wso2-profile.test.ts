import { createHash } from "node:crypto";
import { ProtocolError } from "@/lib/errors";
import { afterEach, describe, expect, it } from "vitest";
import { withCaFile } from "@/lib/net/ca-fetch";
import { type IdentityServerProfile } from "@/lib/auth/profiles/types";
import { agentOwnerMismatch, createWso2Profile, type Wso2ProfileOptions } from "@/lib/auth/profiles/wso2";
import { remoteKeys } from "@/lib/protected-resource/issuer-keys";
import { verifyAccessToken } from "@/lib/protected-resource/verify-access-token";
import { createSelfSignedCertificate } from "../fakes/self-signed";
import { startWso2Fake, wso2ProfileFor, type Wso2Fake, type Wso2FakeOptions } from "../fakes/wso2-fake";
import { rejection } from "../helpers/failures";
import { sampleCibaRequest } from "../helpers/orders";

/**
 * The WSO2 profile against the WSO2 fake (tests/fakes/wso2-fake.ts): every request asserted field
 * by field, every error branch the profile distinguishes.
 */
let fake: Wso2Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const ALICE = "alice@example.com";

async function setup(fakeOptions: Wso2FakeOptions = {}, profileOptions: Partial<Wso2ProfileOptions> = {}) {
  fake = await startWso2Fake(fakeOptions);
  const warnings: string[] = [];
  const profile = wso2ProfileFor(fake, { onWarning: (m) => warnings.push(m), ...profileOptions })
  return { fake, profile, warnings };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("WSO2 agent token (app-native authentication + code grant with PKCE)", () => {
  it("sends authorize, authn and token requests field by field and returns the agent's token", async () => {
    const { fake, profile } = await setup();
    const token = await profile.getAgentToken();

    const [authorize] = fake.requestsTo("/oauth2/authorize");
    expect(authorize!.headers.accept).toBe("application/json");
    expect(authorize!.headers["content-type"]).toMatch(/^application\/x-www-form-urlencoded/);
    const challenge = authorize!.form!.code_challenge!;
    expect(authorize!.form).toEqual({
      client_id: "wso2-client-id",
      client_secret: "wso2-client-secret",
      response_type: "code",
      redirect_uri: "http://localhost:3000/callback",
      scope: "openid stock:read",
      response_mode: "direct",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const [authn] = fake.requestsTo("/oauth2/authn");
    expect(authn!.headers["content-type"]).toMatch(/^application\/json/);
    expect(authn!.json).toEqual({
      flowId: expect.any(String),
      selectedAuthenticator: { authenticatorId: Buffer.from("BasicAuthenticator:LOCAL").toString("base64url"), params: { username: fake.options.agentId, password: "wso2-agent-secret" } },
    });

    const [tokenRequest] = fake.requestsTo("/oauth2/token");
    expect(tokenRequest!.basic).toEqual({ id: "wso2-client-id", secret: "wso2-client-secret" });
    expect(tokenRequest!.form).toEqual({ grant_type: "authorization_code", code: expect.any(String), redirect_uri: "http://localhost:3000/callback", code_verifier: expect.any(String) });
    expect(createHash("sha256").update(tokenRequest!.form!.code_verifier!).digest("base64url")).toBe(challenge);

    expect(token.scopes).toEqual(["openid", "stock:read"]);
    expect(token.claims).toMatchObject({ sub: fake.options.agentId, aut: "AGENT", aud: "wso2-client-id", iss: `${fake.base}/oauth2/token`, scope: "openid stock:read" });
    expect(token.claims.act).toBeUndefined();
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3500_000);
  });

  it("gets only stock:read even when the agent's role also allows stock:trade", async () => {
    const { profile } = await setup({ agentScopes: ["stock:read", "stock:trade"] });
    expect((await profile.getAgentToken()).scopes).toEqual(["openid", "stock:read"]);
  });

  it("works below an organisation path (/t/{tenant})", async () => {
    const { fake, profile } = await setup({ orgPath: "/t/acme" });
    const token = await profile.getAgentToken();
    expect(token.claims.iss).toBe(`${fake.base}/oauth2/token`);
    expect(fake.base).toMatch(/\/t\/acme$/);
    expect(fake.requests.every((r) => r.path.startsWith("/t/acme/oauth2/"))).toBe(true);
  });

  it.each([
    [{ appNative: false }, {}, "ABA-60007", /App native authentication is not enabled/],
    [{}, { agentSecret: "wrong" }, "authentication_failed", /Login failed/],
    [{}, { clientSecret: "wrong" }, "invalid_client", /invalid/i],
    [{}, { clientId: "unknown-client" }, "ABA-60005", /Unable to find application/],
    [{ basicAuthenticator: false }, {}, "authenticator_unavailable", /Identifier First, not "Username & Password"/],
    [{ secondStep: true }, {}, "unexpected_step", /another step/],
    [{}, { redirectUri: "http://localhost:9999/other" }, "invalid_request", /callback/],
  ] as const)("fails with the server's code: %j %j → %s", async (fakeOptions, profileOptions, code, description) => {
    const { profile } = await setup(fakeOptions, profileOptions);
    const error = await rejection(profile.getAgentToken());
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(code);
    expect((error as ProtocolError).description).toMatch(description);
    expect((error as ProtocolError).retryable).toBe(false);
    // The secrets never appear in what is thrown.
    expect(JSON.stringify({ m: error.message, d: (error as ProtocolError).description })).not.toMatch(/wso2-agent-secret|wso2-client-secret/);
  });

  it("reports an unreachable server as unreachable", async () => {
    const { fake, profile } = await setup();
    await fake.close();
    const error = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.retryable).toBe(true);
  });
});

describe("WSO2 CIBA", () => {
  async function started(fakeOptions: Wso2FakeOptions = {}, profileOptions: Partial<Wso2ProfileOptions> = {}) {
    const ctx = await setup(fakeOptions, profileOptions);
    const agent = await ctx.profile.getAgentToken();
    return { ...ctx, agent, request: sampleCibaRequest(agent.accessToken) };
  }

  it("sends the backchannel request with Basic client auth, login_hint, binding_message, channel and actor_token", async () => {
    const { fake, profile, request, agent } = await started();
    const ack = await profile.startCiba(request);
    expect(ack).toEqual({ authReqId: fake.ciba[0]!.authReqId, expiresIn: 120, interval: 2 });
    const [ciba] = fake.requestsTo("/oauth2/ciba");
    expect(ciba!.basic).toEqual({ id: "wso2-client-id", secret: "wso2-client-secret" });
    expect(ciba!.form).toEqual({
      // openid-client names the client in the body as well (CIBA Core §7.1 allows it with Basic).
      client_id: "wso2-client-id",
      scope: "openid stock:read stock:trade",
      login_hint: ALICE,
      binding_message: request.bindingMessage,
      notification_channel: "email",
      requested_expiry: "120",
      actor_token: agent.accessToken,
      actor_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    expect(ciba!.repeated).toBeUndefined();
  });

  it("sends the order as authorization_details only when configured, and reads it back from the token", async () => {
    const { fake, profile, request } = await started({ rar: true }, { authorizationDetails: true });
    await profile.startCiba(request);
    expect(JSON.parse(fake.requestsTo("/oauth2/ciba")[0]!.form!.authorization_details!)).toEqual([request.order]);
    fake.approve();
    const outcome = await profile.pollCiba(fake.ciba[0]!.authReqId);
    expect(outcome.kind).toBe("approved");
    if (outcome.kind === "approved") expect(profile.readGrantedOrder(outcome.token)).toEqual([request.order]);
  });

  it.each([
    [{ users: {} }, {}, "invalid_request", /User not found/],
    [{ cibaGrant: false }, {}, "unauthorized_client", /CIBA/],
    [{ notificationChannels: ["email"] }, { notificationChannel: "sms" as const }, "invalid_request", /Notification channel sms/],
  ] as const)("is refused: %j %j → %s", async (fakeOptions, profileOptions, code, description) => {
    const { profile, request } = await started(fakeOptions as Wso2FakeOptions, profileOptions);
    const error = (await rejection(profile.startCiba(request))) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe(code);
    expect(error.description).toMatch(description);
    expect(error.retryable).toBe(false);
  });

  it("is refused with invalid_client when the client secret is wrong", async () => {
    const { fake, profile, request } = await started();
    const other = createWso2Profile({
      baseUrl: fake.base,
      clientId: "wso2-client-id",
      clientSecret: "wrong",
      agentId: "x",
      agentSecret: "y",
      redirectUri: "http://localhost:3000/callback",
      loginHint: ALICE,
      investorUserId: "u",
      notificationChannel: "email",
      authorizationDetails: false,
      fetch,
    });
    void profile;
    const error = (await rejection(other.startCiba(request))) as ProtocolError;
    expect(error.code).toBe("invalid_client");
  });

  it("warns when the agent belongs to another user; the server refuses the request", async () => {
    const { profile, request, warnings } = await started({ agentOwner: "someone-else@carbon.super" });
    const error = (await rejection(profile.startCiba(request))) as ProtocolError;
    expect(error.description).toMatch(/owner of the acting agent/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/belongs to user someone-else@carbon.super/);
  });

  it("accepts a request when the agent's owner is the investor", async () => {
    const { fake, profile, request, warnings } = await started({ agentOwner: "5d4c3b2a-1e0f-4a9b-8c7d-alice@carbon.super" });
    await expect(profile.startCiba(request)).resolves.toMatchObject({ interval: 2 });
    expect(warnings).toEqual([]);
    expect(fake.ciba).toHaveLength(1);
  });

  it("polls: pending at the interval, slow_down when too fast (+3 s on this server), then the OBO token once", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    await sleep(2100);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "pending" });
    const poll = fake.requestsTo("/oauth2/token").at(-1)!;
    expect(poll.basic).toEqual({ id: "wso2-client-id", secret: "wso2-client-secret" });
    expect(poll.form).toEqual({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: authReqId });
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "slow_down", retryAfterSeconds: undefined });
    // The server now wants 5 s: the old 2 s pace is too fast.
    await sleep(2100);
    expect((await profile.pollCiba(authReqId)).kind).toBe("slow_down");
    expect(fake.ciba[0]!.intervalSeconds).toBe(8);

    fake.approve();
    const outcome = await profile.pollCiba(authReqId);
    expect(outcome.kind).toBe("approved");
    if (outcome.kind !== "approved") return;
    expect(outcome.token.claims).toMatchObject({ sub: fake.options.users[ALICE], act: { sub: fake.options.agentId }, aut: "APPLICATION_USER", aud: "wso2-client-id" });
    expect(outcome.token.scopes).toEqual(["openid", "stock:read", "stock:trade"]);
    expect(profile.readActor(outcome.token.claims)).toBe(fake.options.agentId);
    // WSO2 issued no authorization_details: the "recorded-approval" rule applies.
    expect(profile.readGrantedOrder(outcome.token)).toBeUndefined();
    // A redeemed auth_req_id is finished (WSO2 answers invalid_request).
    expect(await profile.pollCiba(authReqId)).toMatchObject({ kind: "invalid", error: "invalid_request" });
  });

  it("a forced slow_down is reported as such", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    fake.approve();
    fake.slowDownNext();
    expect((await profile.pollCiba(authReqId)).kind).toBe("slow_down");
  });

  it.each([
    ["deny", { kind: "denied", error: "access_denied" }],
    ["expire", { kind: "expired", error: "expired_token" }],
  ] as const)("%s → %j", async (decision, expected) => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    fake[decision]();
    expect(await profile.pollCiba(authReqId)).toMatchObject(expected);
  });

  it("an unknown auth_req_id is invalid_grant; an unreachable server keeps the request", async () => {
    const { fake, profile } = await started();
    expect(await profile.pollCiba("no-such-request")).toMatchObject({ kind: "invalid", error: "invalid_grant" });
    await fake.close();
    expect((await profile.pollCiba("whatever")).kind).toBe("unreachable");
  });
});

describe("agentOwnerMismatch", () => {
  const token = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
  it.each([
    [{}, "u1", undefined],
    [{ agent_owner: "u1" }, "u1", undefined],
    [{ agent_owner: "U1@carbon.super" }, "u1", undefined],
    [{ agent_owner: "u2@carbon.super" }, "u1", "u2@carbon.super"],
    [{ agent_owner: "u2" }, "u1", "u2"],
  ])("%j for %s → %s", (claims, user, expected) => {
    expect(agentOwnerMismatch(token(claims), user)).toBe(expected);
  });
  it("ignores a token that is not a JWT", () => {
    expect(agentOwnerMismatch("opaque", "u1")).toBeUndefined();
  });
});

describe("a server with a self-signed certificate (WSO2_CA_FILE)", () => {
  it("is refused without the CA file and trusted with it, by the agent and by the MCP server's key fetch", async () => {
    const tls = createSelfSignedCertificate();
    fake = await startWso2Fake({ tls: { key: tls.key, cert: tls.cert } });
    expect(fake.base).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const untrusting: IdentityServerProfile = wso2ProfileFor(fake, { fetch });
    const refused = (await rejection(untrusting.getAgentToken())) as ProtocolError;
    expect(refused.retryable).toBe(true);
    expect(refused.description).toMatch(/SELF_SIGNED|self.signed|certificate/i);

    const trusting = wso2ProfileFor(fake, { fetch: withCaFile(fetch, tls.certFile) });
    const token = await trusting.getAgentToken();
    expect(token.claims.sub).toBe(fake.options.agentId);

    const verify = (keys: ReturnType<typeof remoteKeys>) =>
      verifyAccessToken(token.accessToken, { issuer: fake!.issuer, audience: fake!.options.clientId, keys, agentId: fake!.options.agentId, agentClientId: fake!.options.clientId });
    await expect(verify(remoteKeys(fake.jwksUri))).rejects.toMatchObject({ code: "temporarily_unavailable" });
    await expect(verify(remoteKeys(fake.jwksUri, { caFile: tls.certFile }))).resolves.toMatchObject({ sub: fake.options.agentId, subjectKind: "agent" });
  });

  it("a CA file that does not exist fails loudly, naming the file", async () => {
    fake = await startWso2Fake();
    const profile = createWso2Profile({
      baseUrl: fake.base,
      clientId: "c",
      clientSecret: "s",
      agentId: "a",
      agentSecret: "b",
      redirectUri: "http://localhost:3000/callback",
      loginHint: ALICE,
      investorUserId: "u",
      notificationChannel: "email",
      authorizationDetails: false,
      fetch: withCaFile(fetch, "/nonexistent/ca.pem"),
    });
    const error = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(error.description).toMatch(/\/nonexistent\/ca\.pem cannot be read \(ENOENT\)/);
  });
});
