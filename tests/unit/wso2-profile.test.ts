import { createHash } from "node:crypto";
import { ProtocolError } from "@/lib/errors";
import { afterEach, describe, expect, it } from "vitest";
import { withCaFile } from "@/lib/net/ca-fetch";
import { type IdentityServerProfile } from "@/lib/auth/profiles/types";
import { createWso2Profile, type Wso2ProfileOptions } from "@/lib/auth/profiles/wso2";
import { remoteKeys } from "@/lib/protected-resource/issuer-keys";
import { verifyAccessToken } from "@/lib/protected-resource/verify-access-token";
import { createSelfSignedCertificate } from "../fakes/self-signed";
import { startWso2Fake, wso2ProfileFor, type Wso2Fake, type Wso2FakeOptions } from "../fakes/wso2-fake";
import { rejection } from "../helpers/failures";
import { sampleCibaRequest } from "../helpers/orders";

/**
 * The WSO2 profile against the WSO2 fake (tests/fakes/wso2-fake.ts, which replays WSO2's code
 * path): every request asserted field by field, every answer the server gives that the profile
 * must tell apart.
 */
let fake: Wso2Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const ALICE = "alice@example.com";
const DISCOVERY = "/oauth2/token/.well-known/openid-configuration";

async function setup(fakeOptions: Wso2FakeOptions = {}, profileOptions: Partial<Wso2ProfileOptions> = {}) {
  fake = await startWso2Fake(fakeOptions);
  return { fake, profile: wso2ProfileFor(fake, profileOptions) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("WSO2 agent token (app-native authentication + code grant with PKCE)", () => {
  it("reads the issuer from discovery, then sends authorize, authn and token requests field by field", async () => {
    const { fake, profile } = await setup();
    const token = await profile.getAgentToken();

    expect(fake.requests.map((r) => r.path)).toEqual([DISCOVERY, "/oauth2/authorize", "/oauth2/authn", "/oauth2/token", "/oauth2/jwks"]);
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
    // The discovery document is read once per process and issuer.
    await profile.getAgentToken();
    expect(fake.requestsTo(DISCOVERY)).toHaveLength(1);
  });

  it("gets only stock:read even when the agent's role also allows stock:trade", async () => {
    const { profile } = await setup({ agentScopes: ["stock:read", "stock:trade"] });
    expect((await profile.getAgentToken()).scopes).toEqual(["openid", "stock:read"]);
  });

  it("works below a tenant path (/t/{tenant}), whose issuer keeps the path", async () => {
    const { fake, profile } = await setup({ orgPath: "/t/acme" });
    const token = await profile.getAgentToken();
    expect(token.claims.iss).toBe(`${fake.base}/oauth2/token`);
    expect(fake.base).toMatch(/\/t\/acme$/);
    expect(fake.requests.every((r) => r.path.startsWith("/t/acme/oauth2/"))).toBe(true);
  });

  it.each([
    ["the tutorial's /t/carbon.super base: the super tenant's issuer has no tenant path", { orgPath: "/t/carbon.super" }],
    ["a configured host name (a proxy): the issuer is that host's", { hostName: "https://wso2.example.com" }],
  ] as const)("%s, and the agent still gets its token", async (_name, fakeOptions) => {
    const { fake, profile } = await setup(fakeOptions);
    expect(fake.issuer).not.toBe(`${fake.base}/oauth2/token`);
    const token = await profile.getAgentToken();
    expect(token.claims).toMatchObject({ iss: fake.issuer, sub: fake.options.agentId });
  });

  it("approves through CIBA with an issuer that is not the base URL's (actor_token and ID token both checked against it)", async () => {
    const { fake, profile } = await setup({ orgPath: "/t/carbon.super", hostName: "https://wso2.example.com" });
    const agent = await profile.getAgentToken();
    const { authReqId } = await profile.startCiba(sampleCibaRequest(agent.accessToken));
    fake.approve(authReqId);
    await sleep(2100);
    const outcome = await profile.pollCiba(authReqId);
    expect(outcome.kind).toBe("approved");
    if (outcome.kind === "approved") expect(outcome.token.claims).toMatchObject({ iss: "https://wso2.example.com/oauth2/token", sub: fake.options.users[ALICE], act: { sub: fake.options.agentId } });
  });

  it("AUTH_ISSUER overrides discovery: the right one works without reading it", async () => {
    const { fake } = await setup({ orgPath: "/t/carbon.super" });
    const pinned = wso2ProfileFor(fake, { issuer: fake.issuer });
    expect((await pinned.getAgentToken()).claims.iss).toBe(fake.issuer);
    expect(fake.requestsTo(DISCOVERY)).toEqual([]);
  });

  it("a wrong AUTH_ISSUER is a clear configuration error, never 'unreachable', and no approval request is sent", async () => {
    const { fake } = await setup({ orgPath: "/t/carbon.super" });
    const wrong = `${fake.base}/oauth2/token`; // what the base URL suggests, not what the server signs with
    const profile = wso2ProfileFor(fake, { issuer: wrong });
    const error = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe("issuer_mismatch");
    expect(error.retryable).toBe(false);
    expect(error.description).toBe(`the server signed its ID token as issuer ${fake.issuer}, but this app trusts ${wrong}`);
    expect(fake.ciba).toEqual([]);
  });

  it("no discovery document (a wrong tenant path) is a configuration error; an unreachable server is unreachable", async () => {
    const { fake } = await setup({ orgPath: "/t/acme" });
    const wrongTenant = wso2ProfileFor(fake, { baseUrl: fake.base.replace("/t/acme", "/t/other") });
    const error = (await rejection(wrongTenant.getAgentToken())) as ProtocolError;
    expect(error).toMatchObject({ code: "invalid_configuration", retryable: false });
    expect(error.description).toMatch(/no discovery document with an issuer at .*\/t\/other\/oauth2\/token\/\.well-known\/openid-configuration \(HTTP 404\)/);
    // Nothing else was tried.
    expect(fake.requestsTo("/oauth2/authorize")).toEqual([]);

    const profile = wso2ProfileFor(fake);
    await fake.close();
    const down = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(down).toMatchObject({ code: "unreachable", retryable: true });
  });

  it.each([
    [{ appNative: false }, {}, "ABA-60007", /App native authentication is not enabled/],
    [{}, { agentSecret: "wrong" }, "authentication_failed", /Login failed/],
    // App-native authentication refuses the client with HTTP 401 {code: "401", message: "Unauthorized"}.
    [{}, { clientSecret: "wrong" }, "401", /^Unauthorized Client credentials are invalid\.$/],
    [{}, { clientId: "unknown-client" }, "401", /^Unauthorized Client credentials are invalid\.$/],
    [{ basicAuthenticator: false }, {}, "authenticator_unavailable", /Identifier First, not "Username & Password"/],
    [{ secondStep: true }, {}, "unexpected_step", /another step/],
    [{}, { redirectUri: "http://localhost:9999/other" }, "ABA-60001", /^Invalid authentication request\. invalid_callback - callback\.not\.match$/],
    [{ codeGrant: false }, {}, "unauthorized_client", /not authorized to use this authorization grant type/],
  ] as const)("fails with the server's code: %j %j → %s", async (fakeOptions, profileOptions, code, description) => {
    const { profile } = await setup(fakeOptions as Wso2FakeOptions, profileOptions);
    const error = await rejection(profile.getAgentToken());
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(code);
    expect((error as ProtocolError).description).toMatch(description);
    expect((error as ProtocolError).retryable).toBe(false);
    // The secrets never appear in what is thrown.
    expect(JSON.stringify({ m: error.message, d: (error as ProtocolError).description })).not.toMatch(/wso2-agent-secret|wso2-client-secret/);
  });
});

describe("WSO2 CIBA", () => {
  async function started(fakeOptions: Wso2FakeOptions = {}, profileOptions: Partial<Wso2ProfileOptions> = {}) {
    const ctx = await setup(fakeOptions, profileOptions);
    const agent = await ctx.profile.getAgentToken();
    return { ...ctx, agent, request: sampleCibaRequest(agent.accessToken) };
  }

  it("sends the backchannel request with Basic client auth, login_hint, binding_message, channel and actor_token, no authorization_details", async () => {
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
    expect(fake.ciba[0]!.requestedActor).toBe(fake.options.agentId);
  });

  it.each([
    ["an unknown user", { users: {} }, {}, "invalid_request", /^Invalid ciba request\.$/],
    ["CIBA not an allowed grant type (HTTP 400)", { cibaGrant: false }, {}, "unauthorized_client", /^Client has not configured grant_type properly\.$/],
    ["a channel the application does not allow", { notificationChannels: ["email"] }, { notificationChannel: "sms" as const }, "invalid_request", /^Requested notification channel is not allowed for this application\.$/],
    ["an opaque agent token as actor_token (token type not JWT)", { accessTokenType: "Default" as const }, {}, "invalid_request", /^Invalid actor_token: Error while parsing the actor token JWT\.$/],
  ] as const)("is refused for %s", async (_name, fakeOptions, profileOptions, code, description) => {
    const { profile, request } = await started(fakeOptions as Wso2FakeOptions, profileOptions);
    const error = (await rejection(profile.startCiba(request))) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe(code);
    expect(error.description).toMatch(description);
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
  });

  it("resolves Alice by her user id too (the resolver's fallback)", async () => {
    const { fake, request } = await started();
    const byId = wso2ProfileFor(fake, { loginHint: fake.options.users[ALICE]! });
    await expect(byId.startCiba(request)).resolves.toMatchObject({ interval: 2 });
    expect(fake.ciba[0]!.userId).toBe(fake.options.users[ALICE]);
  });

  it.each([
    ["a DEL character", "BUY 38 NVDA\u007f"],
    ["an angle bracket", "BUY <38> NVDA"],
    ["a line break", "BUY 38\nNVDA"],
  ])("refuses a binding message with %s (invalid_binding_message)", async (_name, bindingMessage) => {
    const { profile, request } = await started();
    const error = (await rejection(profile.startCiba({ ...request, bindingMessage }))) as ProtocolError;
    expect(error).toMatchObject({ code: "invalid_binding_message", description: "Invalid characters present in (binding_message)." });
  });

  it("is refused with invalid_client (HTTP 401) when the client secret is wrong", async () => {
    const { fake, request } = await started();
    const other = wso2ProfileFor(fake, { clientSecret: "wrong" });
    const error = (await rejection(other.startCiba(request))) as ProtocolError;
    expect(error).toMatchObject({ code: "invalid_client", status: 401, description: "Client credentials are invalid." });
  });

  it("polls: pending at the interval; slow_down (+3 s) when too soon, which does not move the last poll", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    await sleep(2100);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "pending" });
    const poll = fake.requestsTo("/oauth2/token").at(-1)!;
    expect(poll.basic).toEqual({ id: "wso2-client-id", secret: "wso2-client-secret" });
    expect(poll.form).toEqual({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: authReqId });
    await sleep(1000);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "slow_down", retryAfterSeconds: undefined });
    expect(fake.ciba[0]!.intervalSeconds).toBe(5);
    // 5.5 s after the pending poll, 4.5 s after the slow_down: pending, because WSO2 measures from
    // the last poll it answered with authorization_pending.
    await sleep(4500);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "pending" });
    expect(fake.ciba[0]!.intervalSeconds).toBe(5);
  });

  it("approved: the OBO token once (sub Alice, act.sub the agent); the redeemed id is then invalid_grant", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    fake.approve(authReqId);
    await sleep(2100);
    const outcome = await profile.pollCiba(authReqId);
    expect(outcome.kind).toBe("approved");
    if (outcome.kind !== "approved") return;
    expect(outcome.token.claims).toMatchObject({ sub: fake.options.users[ALICE], act: { sub: fake.options.agentId }, aut: "APPLICATION_USER", aud: "wso2-client-id" });
    expect(outcome.token.scopes).toEqual(["openid", "stock:read", "stock:trade"]);
    expect(profile.readActor(outcome.token.claims)).toBe(fake.options.agentId);
    // WSO2 issued no authorization_details: the "recorded-approval" rule applies.
    expect(profile.readGrantedOrder(outcome.token)).toBeUndefined();
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "invalid", error: "invalid_grant", description: "invalid_request" });
  });

  it("an approved request polled too soon is slow_down (the pace is checked before the approval)", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    fake.approve(authReqId);
    expect((await profile.pollCiba(authReqId)).kind).toBe("slow_down");
  });

  it.each([
    ["Alice denies", "deny"],
    ["someone signs in as another user", "signInAsAnotherUser"],
    ["the sign-in fails", "failSignIn"],
  ] as const)("%s: access_denied at once (denial before pace), marked as possibly a failed sign-in", async (_name, decision) => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    fake[decision](authReqId);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "denied", error: "access_denied", description: "User denied authentication", alsoMeans: "failed_sign_in" });
  });

  it("expired: expired_token, checked first", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    fake.expire(authReqId);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "expired", error: "expired_token", description: "Token expired" });
  });

  it("an unknown auth_req_id is invalid_grant; an unreachable server keeps the request", async () => {
    const { fake, profile } = await started();
    expect(await profile.pollCiba("no-such-request")).toEqual({ kind: "invalid", error: "invalid_grant", description: "invalid auth_req_id" });
    await fake.close();
    expect((await profile.pollCiba("whatever")).kind).toBe("unreachable");
  });

  it("an ID token of another issuer on the approval is issuer_mismatch, not unreachable", async () => {
    const { fake, profile, request } = await started();
    const { authReqId } = await profile.startCiba(request);
    // The server signs the approval's ID token; this client trusts another issuer from the start.
    const pinned = wso2ProfileFor(fake, { issuer: "https://elsewhere.example.com/oauth2/token" });
    fake.approve(authReqId);
    await sleep(2100);
    const outcome = await pinned.pollCiba(authReqId);
    expect(outcome).toEqual({ kind: "invalid", error: "issuer_mismatch", description: `the server signed its ID token as issuer ${fake.issuer}, but this app trusts https://elsewhere.example.com/oauth2/token` });
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
      notificationChannel: "email",
      fetch: withCaFile(fetch, "/nonexistent/ca.pem"),
    });
    const error = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(error.description).toMatch(/\/nonexistent\/ca\.pem cannot be read \(ENOENT\)/);
  });
});
