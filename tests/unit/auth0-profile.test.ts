import { afterEach, describe, expect, it } from "vitest";
import { ProtocolError } from "@/lib/errors";
import { grantedMatchesOrder } from "@/lib/orders/check";
import { auth0LoginHint, type Auth0ProfileOptions } from "@/lib/auth/profiles/auth0";
import { pollUntilDecided, startPollState } from "@/lib/auth/ciba-poller";
import { auth0ProfileFor, DENIED_OR_EXPIRED, startAuth0Fake, type Auth0Fake, type Auth0FakeOptions } from "../fakes/auth0-fake";
import { rejection } from "../helpers/failures";
import { sampleCibaRequest } from "../helpers/orders";

/**
 * The Auth0 profile against the Auth0 fake (tests/fakes/auth0-fake.ts): every request asserted
 * field by field, every error branch the profile distinguishes.
 */
let fake: Auth0Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const ALICE = "auth0|65f0c0ffee0000000000alice";
const API = "https://broker.example.com/mcp";
const RAR_TYPE = "urn:auth0:schemas:authorization-details:v1:stock_trade";

async function setup(fakeOptions: Auth0FakeOptions = {}, profileOptions: Partial<Auth0ProfileOptions> = {}) {
  fake = await startAuth0Fake({ interval: 1, ...fakeOptions });
  const profile = auth0ProfileFor(fake, profileOptions);
  return { fake, profile };
}

const cibaRequest = (requestedExpirySeconds = 120) => sampleCibaRequest("agent-token-not-sent-to-auth0", { requestedExpirySeconds });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Auth0 agent token (client credentials)", () => {
  it("asks for the API's audience and stock:read, authenticating in the body (client_secret_post)", async () => {
    const { fake, profile } = await setup();
    const token = await profile.getAgentToken();
    const [request] = fake.requestsTo("/oauth/token");
    expect(request!.basic).toBeUndefined();
    expect(request!.form).toEqual({ grant_type: "client_credentials", client_id: fake.options.clientId, client_secret: "auth0-client-secret", audience: API, scope: "stock:read" });
    expect(token.scopes).toEqual(["stock:read"]);
    expect(token.claims).toMatchObject({ sub: `${fake.options.clientId}@clients`, azp: fake.options.clientId, aud: API, iss: `${fake.origin}/` });
    expect(token.claims.act).toBeUndefined();
  });

  it("uses HTTP Basic when the application is set to client_secret_basic", async () => {
    const { fake, profile } = await setup({ authMethod: "client_secret_basic" }, { clientAuth: "client_secret_basic" });
    await profile.getAgentToken();
    const [request] = fake.requestsTo("/oauth/token");
    expect(request!.basic).toEqual({ id: fake.options.clientId, secret: "auth0-client-secret" });
    expect(request!.form!.client_secret).toBeUndefined();
  });

  it.each([
    [{}, { clientSecret: "wrong" }, "access_denied", /^Unauthorized$/],
    [{ authMethod: "client_secret_basic" as const }, {}, "access_denied", /^Unauthorized$/],
    [{}, { audience: "https://wrong.example.com/api" }, "access_denied", /Service not found: https:\/\/wrong.example.com\/api/],
    [{ clientGrantScopes: null }, {}, "access_denied", /Client is not authorized to access/],
    [{ clientGrantScopes: ["stock:trade"] }, {}, "access_denied", /Client has not been granted scopes: stock:read/],
    [{ grantTypes: ["urn:openid:params:grant-type:ciba"] }, {}, "unauthorized_client", /client_credentials' not allowed/],
  ] as const)("fails with Auth0's error: %j %j → %s", async (fakeOptions, profileOptions, code, description) => {
    const { profile } = await setup(fakeOptions as Auth0FakeOptions, profileOptions);
    const error = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe(code);
    expect(error.description).toMatch(description);
    expect(error.retryable).toBe(false);
  });

  it("reports an unreachable tenant as unreachable", async () => {
    const { fake, profile } = await setup();
    await fake.close();
    expect(((await rejection(profile.getAgentToken())) as ProtocolError).retryable).toBe(true);
  });
});

describe("Auth0 CIBA (/bc-authorize)", () => {
  it("sends scope, audience, the iss_sub login_hint, binding_message, requested_expiry and the order in Guardian's schema", async () => {
    const { fake, profile } = await setup();
    const request = cibaRequest();
    const ack = await profile.startCiba(request);
    expect(ack).toEqual({ authReqId: fake.ciba[0]!.authReqId, expiresIn: 120, interval: 1 });
    const [sent] = fake.requestsTo("/bc-authorize");
    expect(sent!.basic).toBeUndefined();
    expect(sent!.form).toEqual({
      client_id: fake.options.clientId,
      client_secret: "auth0-client-secret",
      scope: "openid stock:read stock:trade",
      audience: API,
      login_hint: `{"format":"iss_sub","iss":"${fake.origin}/","sub":"${ALICE}"}`,
      binding_message: request.bindingMessage,
      requested_expiry: "120",
      authorization_details: expect.any(String),
    });
    const o = request.order;
    expect(JSON.parse(sent!.form!.authorization_details!)).toEqual([
      {
        type: "urn:auth0:schemas:authorization-details:v1:stock_trade",
        instruction: `Approve the agent to buy up to 38 NVDA shares at most 131.20 USD each, 5000.00 USD in total, before ${o.expires_at}.`,
        properties: {
          side: { display: true, name: "Action", display_order: 1, value: "buy" },
          symbol: { display: true, name: "Stock", display_order: 2, value: "NVDA" },
          quantity: { display: true, name: "Shares (at most)", display_order: 3, value: "38" },
          limit_price: { display: true, name: "Limit price per share (USD)", display_order: 4, value: "131.20" },
          max_notional: { display: true, name: "Maximum total (USD)", display_order: 5, value: "5000.00" },
          expires_at: { display: true, name: "Order valid until", display_order: 6, value: o.expires_at },
          order_id: { display: true, name: "Order id", display_order: 7, value: o.order_id },
        },
      },
    ]);
    // Auth0 has no actor_token: the acting agent is the client (azp).
    expect(sent!.form!.actor_token).toBeUndefined();
  });

  it("builds the login_hint from the domain with exactly one trailing slash", () => {
    expect(auth0LoginHint("https://tenant.eu.auth0.com/", "auth0|x")).toBe('{"format":"iss_sub","iss":"https://tenant.eu.auth0.com/","sub":"auth0|x"}');
  });

  it.each([
    ["unknown user", { users: [] }, { userId: ALICE }, cibaRequest(), "unknown_user_id", /does not exist/],
    ["RAR type not registered on the API", {}, { rarType: "not_registered" }, cibaRequest(), "invalid_authorization_details", /not registered/],
    ["CIBA grant not enabled", { grantTypes: ["client_credentials"] }, {}, cibaRequest(), "unauthorized_client", /ciba' not allowed/],
    ["bad binding message", {}, {}, { ...cibaRequest(), bindingMessage: "BUY <38> NVDA" }, "invalid_binding_message", /64/],
    ["wrong client secret", {}, { clientSecret: "wrong" }, cibaRequest(), "access_denied", /Unauthorized/],
    ["unknown audience", {}, { audience: "https://other.example.com" }, cibaRequest(), "access_denied", /Service not found: https:\/\/other.example.com/],
    ["requested_expiry over 72 hours", {}, {}, cibaRequest(259_201), "invalid_request", /between 1 and 259200/],
    ["requested_expiry over 300 s without the email channel", {}, {}, cibaRequest(600), "invalid_request", /email channel/],
    ["user not enrolled in push, no email channel", { notEnrolledInPush: [ALICE] }, {}, cibaRequest(), "invalid_request", /cannot be notified/],
    ["email channel, but no verified address", { notificationChannels: ["email"], unverifiedEmail: [ALICE] }, {}, cibaRequest(600), "invalid_request", /verified email/],
    [
      "require_client_grant: the RAR type is not on the client grant",
      { api: { identifier: API, scopes: ["stock:read", "stock:trade"], rarTypes: [RAR_TYPE], userAccessPolicy: "require_client_grant" }, userClientGrant: { scopes: ["stock:read", "stock:trade"], authorizationDetailsTypes: [] } },
      {},
      cibaRequest(),
      "invalid_authorization_details",
      /not allowed by the client grant/,
    ],
    [
      "require_client_grant: no client grant for user-delegated access",
      { api: { identifier: API, scopes: ["stock:read", "stock:trade"], rarTypes: [RAR_TYPE], userAccessPolicy: "require_client_grant" } },
      {},
      cibaRequest(),
      "access_denied",
      /Client is not authorized to access/,
    ],
  ] as const)("is refused (%s)", async (_name, fakeOptions, profileOptions, request, code, description) => {
    const { profile } = await setup(fakeOptions as Auth0FakeOptions, profileOptions);
    const error = (await rejection(profile.startCiba(request))) as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe(code);
    expect(error.description).toMatch(description);
  });

  it("polls: slow_down with Retry-After, pending at the interval, then the token with the order mapped back", async () => {
    const { fake, profile } = await setup();
    const request = cibaRequest();
    const { authReqId } = await profile.startCiba(request);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "slow_down", retryAfterSeconds: 10, intervalSeconds: 10 });
    await sleep(1100);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "pending" });
    const last = fake.requestsTo("/oauth/token").at(-1)!;
    expect(last.form).toEqual({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: authReqId, client_id: fake.options.clientId, client_secret: "auth0-client-secret" });

    fake.approve();
    const outcome = await profile.pollCiba(authReqId);
    expect(outcome.kind).toBe("approved");
    if (outcome.kind !== "approved") return;
    expect(outcome.token.claims).toMatchObject({ sub: ALICE, azp: fake.options.clientId, aud: [API, `${fake.origin}/userinfo`] });
    expect(outcome.token.claims.act).toBeUndefined();
    expect(outcome.token.scopes).toEqual(["openid", "stock:read", "stock:trade"]);
    expect(profile.readActor(outcome.token.claims)).toBe(fake.options.clientId);
    // Granted in Guardian's schema, read back as the canonical order: the agent's exact check passes.
    expect(profile.readGrantedOrder(outcome.token)).toEqual([request.order]);
    expect(grantedMatchesOrder(profile.readGrantedOrder(outcome.token), request.order)).toEqual({ ok: true });
    // The claim carries the same entry as the response.
    expect(outcome.token.claims.authorization_details).toEqual(outcome.token.authorizationDetails);
    expect(await profile.pollCiba(authReqId)).toMatchObject({ kind: "invalid", error: "invalid_grant" });
  });

  it("slow_down comes with Retry-After, and with the interval in the body only in the guides' form; the wait grows while the client keeps polling early", async () => {
    const { profile, fake } = await setup({ slowDownInterval: false });
    const { authReqId } = await profile.startCiba(cibaRequest());
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "slow_down", retryAfterSeconds: 10 });
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "slow_down", retryAfterSeconds: 15 });
    await sleep(1100);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "pending" });

    fake.options.slowDownInterval = true;
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "slow_down", retryAfterSeconds: 10, intervalSeconds: 10 });
  });

  it.each([
    ["with the interval in the body", true, [1000, 30_000, 30_000]],
    ["without it", false, [1000, 30_000, 6000]],
  ] as const)("the poller takes Auth0's slow_down wait %s: a longer body interval for every later poll, Retry-After for the next", async (_name, slowDownInterval, expectedWaits) => {
    const { fake, profile } = await setup({ retryAfter: 30, slowDownInterval });
    const ack = await profile.startCiba(cibaRequest());
    fake.slowDownNext();
    const waits: number[] = [];
    let polls = 0;
    // The poller's clock moves by exactly the waits it asks for, so they read back as asked.
    let clock = Date.now();
    const final = await pollUntilDecided(startPollState(ack, new Date(clock)), {
      now: () => new Date(clock),
      poll: async (id) => {
        const outcome = await profile.pollCiba(id);
        if (++polls === 2) fake.approve(id);
        return outcome;
      },
      // Records the wait the poller asks for; really waits just past the fake's 1 s interval.
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
        await sleep(1100);
      },
    });
    expect(final.kind).toBe("approved");
    expect(waits).toEqual(expectedWaits);
  });

  it("over 300 s goes to email; with the order as authorization_details Alice can approve only once the customized consent prompt is set", async () => {
    const { fake, profile } = await setup({ notificationChannels: ["guardian-push", "email"] });
    const push = await profile.startCiba(cibaRequest(300));
    const email = await profile.startCiba(cibaRequest(301));
    expect(fake.ciba.map((c) => [c.authReqId, c.channel])).toEqual([
      [push.authReqId, "guardian-push"],
      [email.authReqId, "email"],
    ]);
    expect(email.expiresIn).toBe(301);
    expect(() => fake.approve(email.authReqId)).toThrow(/customized consent prompt/);
    fake.options.customizedConsentPrompt = true;
    fake.approve(email.authReqId);
    await sleep(1100);
    const outcome = await profile.pollCiba(email.authReqId);
    expect(outcome.kind).toBe("approved");
  });

  it("a user not enrolled in Guardian push is reached by email when the application has it", async () => {
    const { fake, profile } = await setup({ notEnrolledInPush: [ALICE], notificationChannels: ["guardian-push", "email"] });
    await profile.startCiba(cibaRequest(120));
    expect(fake.ciba[0]!.channel).toBe("email");
  });

  it("require_client_grant: the order's type allowed on the client grant, the token's scopes no wider than the grant", async () => {
    const { fake, profile } = await setup({
      api: { identifier: API, scopes: ["stock:read", "stock:trade"], rarTypes: [RAR_TYPE], userAccessPolicy: "require_client_grant" },
      userClientGrant: { scopes: ["stock:read"], authorizationDetailsTypes: [RAR_TYPE] },
    });
    const { authReqId } = await profile.startCiba(cibaRequest());
    fake.approve(authReqId);
    await sleep(1100);
    const outcome = await profile.pollCiba(authReqId);
    if (outcome.kind !== "approved") throw new Error(outcome.kind);
    expect(outcome.token.scopes).toEqual(["openid", "stock:read"]);
  });

  it("access_denied before the request's expiry is a denial", async () => {
    const { fake, profile } = await setup();
    const { authReqId } = await profile.startCiba(cibaRequest(120));
    fake.deny();
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "denied", error: "access_denied", description: DENIED_OR_EXPIRED });
  });

  it("access_denied once the request has run out is an expiry, although Auth0 words both alike", async () => {
    const { profile } = await setup();
    const { authReqId, expiresIn } = await profile.startCiba(cibaRequest(1));
    expect(expiresIn).toBe(1);
    await sleep(1200);
    expect(await profile.pollCiba(authReqId)).toEqual({ kind: "expired", error: "access_denied", description: DENIED_OR_EXPIRED });
  });

  it("an order the token does not grant exactly is not read as granted", async () => {
    const { fake, profile } = await setup();
    const request = cibaRequest();
    const { authReqId } = await profile.startCiba(request);
    // The server grants a different quantity than the agent asked for.
    const entry = fake.ciba[0]!.details![0] as { properties: { quantity: { value: string } } };
    entry.properties.quantity.value = "39";
    fake.approve();
    const outcome = await profile.pollCiba(authReqId);
    if (outcome.kind !== "approved") throw new Error(outcome.kind);
    expect(grantedMatchesOrder(profile.readGrantedOrder(outcome.token), request.order)).toEqual({ ok: false, code: "order_mismatch", message: "the granted quantity differs from the order" });
  });
});
