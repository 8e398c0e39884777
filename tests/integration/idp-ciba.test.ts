import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import {
  ACCESS_TOKEN_TYPE,
  AGENT_CLIENT_ID,
  agentToken,
  ApprovalPageUser,
  CIBA_GRANT,
  cibaParams,
  clientFor,
  idpEnv,
  mailForOrder,
  oauthError,
  order,
  OTHER_CLIENT,
  pollOnce,
  postForm,
  verifyAccessToken,
} from "./idp-support";

/**
 * The embedded authorization server over real HTTP, through the app's /oidc proxy, with
 * openid-client as the client: discovery, the agent token, CIBA in poll mode with RAR and an
 * actor token, the approval page, and RFC 8693 token exchange.
 */
let server: AppServer;
let agent: oidc.Configuration;

beforeAll(async () => {
  server = await startApp(idpEnv());
  agent = await clientFor(server);
});

afterAll(async () => {
  await server?.stop();
});

describe("discovery and keys", () => {
  it("advertises CIBA poll mode, RAR stock_trade, token exchange and the public issuer", async () => {
    const meta = agent.serverMetadata();
    expect(meta.issuer).toBe(`${server.url}/oidc`);
    expect(meta.token_endpoint).toBe(`${server.url}/oidc/token`);
    expect(meta.jwks_uri).toBe(`${server.url}/oidc/jwks`);
    expect(meta.backchannel_authentication_endpoint).toBe(`${server.url}/oidc/backchannel`);
    expect(meta.backchannel_token_delivery_modes_supported).toEqual(["poll"]);
    expect(meta.backchannel_user_code_parameter_supported).toBe(false);
    expect(meta.grant_types_supported).toEqual(
      expect.arrayContaining(["client_credentials", CIBA_GRANT, "urn:ietf:params:oauth:grant-type:token-exchange"]),
    );
    expect(meta.authorization_details_types_supported).toEqual(["stock_trade", "stock_trade_mandate"]);
  });

  it("lists the same authorization_details types at the RFC 8414 address as the resource server's metadata does", async () => {
    const as = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server/oidc`)).json()) as Record<string, unknown>;
    const rs = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
    expect(as.issuer).toBe(`${server.url}/oidc`);
    expect(as.authorization_details_types_supported).toEqual(["stock_trade", "stock_trade_mandate"]);
    expect(rs.authorization_details_types_supported).toEqual(as.authorization_details_types_supported);
  });

  it("publishes public RS256 signing keys only", async () => {
    const res = await fetch(`${server.url}/oidc/jwks`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: Array<Record<string, unknown>> };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
      expect(key.kid).toEqual(expect.any(String));
      expect(key).not.toHaveProperty("d");
      expect(key).not.toHaveProperty("p");
    }
  });
});

describe("agent token (client credentials)", () => {
  it("is a JWT for the MCP resource with the agent as subject and read scope only", async () => {
    const token = await oidc.clientCredentialsGrant(agent, { scope: "openid stock:read" });
    expect(token.token_type.toLowerCase()).toBe("bearer");
    const { payload, header } = await verifyAccessToken(server, token.access_token);
    expect(header.typ).toBe("at+jwt");
    expect(payload).toMatchObject({ sub: "aurelius", aut: "AGENT", client_id: AGENT_CLIENT_ID, scope: "openid stock:read" });
    expect(payload.aud).toBe(`${server.url}/mcp`);
    expect(payload.act).toBeUndefined();
    expect(payload.authorization_details).toBeUndefined();
  });

  it("is refused stock:trade", async () => {
    const failure = await oauthError(oidc.clientCredentialsGrant(agent, { scope: "openid stock:read stock:trade" }));
    expect(failure).toMatchObject({ error: "invalid_scope", status: 400 });
  });

  it("cannot carry an order through authorization_details", async () => {
    const failure = await oauthError(
      oidc.clientCredentialsGrant(agent, { scope: "openid stock:read", authorization_details: JSON.stringify([order()]) }),
    );
    expect(failure.error).toBe("invalid_authorization_details");
  });

  it("answers a wrong client secret with 401 invalid_client", async () => {
    const res = await postForm(`${server.url}/oidc/token`, { grant_type: "client_credentials", scope: "openid" }, AGENT_CLIENT_ID, "wrong-secret");
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("invalid_client");
    const wrong = await clientFor(server, AGENT_CLIENT_ID, "wrong-secret");
    expect(await oauthError(oidc.clientCredentialsGrant(wrong, { scope: "openid" }))).toMatchObject({ error: "invalid_client", status: 401 });
  });
});

describe("CIBA approved through the real approval page", () => {
  it("issues an OBO token with sub, act, trade scope and the approved order", async () => {
    const actor = await agentToken(agent);
    const detail = order();
    const ack = await oidc.initiateBackchannelAuthentication(agent, {
      ...cibaParams(detail),
      actor_token: actor,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    expect(ack.auth_req_id).toMatch(/^[A-Za-z0-9._-]{22,}$/);
    expect(ack.expires_in).toBe(120);
    expect(ack.interval).toBe(2);

    const pending = await pollOnce(server, ack.auth_req_id);
    expect(pending).toMatchObject({ status: 400, body: { error: "authorization_pending" } });

    const mail = await mailForOrder(server, detail.order_id as string);
    expect(mail.subject).toBe("Aurelius asks you to approve: Buy 38 NVDA");
    expect(mail.text).toContain("BUY 38 NVDA max 131.20 USD #K7Q2");
    expect(mail.text).toContain("Maximum amount: 5,000.00 USD");
    expect(mail.links.approve).toMatch(new RegExp(`^${server.url}/oidc/approve/apr_[A-Za-z0-9_-]+$`));
    expect(mail.links.deny).toBe(`${mail.links.approve}?decision=deny`);
    expect(mail.html).toContain(mail.links.approve);
    expect(mail.html).not.toContain(ack.auth_req_id);

    const alice = new ApprovalPageUser();
    const signInPage = await alice.open(mail.links.approve);
    expect(signInPage.status).toBe(200);
    expect(signInPage.html).toContain('data-testid="sign-in-form"');

    // Opening the link (even signed in) decides nothing.
    const page = mail.links.approve;
    const signedIn = await alice.post(`${page}/sign-in`, { csrf: alice.csrf, username: "alice@example.com", password: "correct horse battery staple", decision: "approve" });
    expect(signedIn.status).toBe(303);
    const review = await alice.open(page);
    expect(review.html).toContain('data-testid="decision-form"');
    expect(review.html).toContain(detail.order_id as string);
    expect(review.html).toContain("BUY 38 NVDA max 131.20 USD #K7Q2");
    expect(review.html).toContain("Aurelius");
    await new Promise((r) => setTimeout(r, 1100));
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("authorization_pending");

    const decided = await alice.post(`${page}/decision`, { csrf: alice.csrf, decision: "approve" });
    expect(decided.status).toBe(303);
    const result = await alice.open(page);
    expect(result.html).toContain('data-testid="approval-result" data-status="approved"');

    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, ack);
    expect(tokens.scope?.split(" ").sort()).toEqual(["openid", "stock:read", "stock:trade"]);
    expect(tokens.authorization_details).toEqual([detail]);
    const { payload, header } = await verifyAccessToken(server, tokens.access_token);
    expect(header.typ).toBe("at+jwt");
    expect(payload).toMatchObject({
      sub: "alice",
      act: { sub: "aurelius" },
      client_id: AGENT_CLIENT_ID,
      aut: "APPLICATION_USER",
      authorization_details: [detail],
    });
    expect(String(payload.scope).split(" ")).toEqual(expect.arrayContaining(["openid", "stock:read", "stock:trade"]));
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.jti).toEqual(expect.any(String));
    expect(tokens.claims()?.sub).toBe("alice");

    // An auth_req_id is single-use (CIBA Core §10.1).
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("invalid_grant");

    // Token exchange (RFC 8693): a narrower token for the same user, actor named in act.
    const exchanged = await oidc.genericGrantRequest(agent, "urn:ietf:params:oauth:grant-type:token-exchange", {
      subject_token: tokens.access_token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      actor_token: actor,
      actor_token_type: ACCESS_TOKEN_TYPE,
      scope: "stock:trade",
      resource: `${server.url}/mcp`,
    });
    expect(exchanged.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    const narrowed = await verifyAccessToken(server, exchanged.access_token);
    expect(narrowed.payload).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, scope: "stock:trade", authorization_details: [detail] });
    expect(narrowed.payload.jti).not.toBe(payload.jti);
    expect(narrowed.payload.exp!).toBeLessThanOrEqual(payload.exp!);

    // It cannot widen the scope, and an actor token needs its type.
    const wider = await oauthError(
      oidc.genericGrantRequest(agent, "urn:ietf:params:oauth:grant-type:token-exchange", {
        subject_token: exchanged.access_token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        scope: "stock:trade stock:read",
      }),
    );
    expect(wider.error).toBe("invalid_scope");
    const untyped = await oauthError(
      oidc.genericGrantRequest(agent, "urn:ietf:params:oauth:grant-type:token-exchange", {
        subject_token: tokens.access_token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        actor_token: actor,
      }),
    );
    expect(untyped.error).toBe("invalid_request");
  });
});

describe("CIBA outcomes other than approval", () => {
  it("answers access_denied after the user denies from the Deny link", async () => {
    const detail = order({ side: "sell", quantity: 5 });
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(detail));
    const mail = await mailForOrder(server, detail.order_id as string);
    const alice = new ApprovalPageUser();
    await alice.open(mail.links.deny);
    await alice.post(`${mail.links.approve}/sign-in`, { csrf: alice.csrf, username: "alice", password: "correct horse battery staple", decision: "deny" });
    const review = await alice.open(mail.links.deny);
    expect(review.html).toContain('data-testid="deny-preselected"');
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("authorization_pending");
    await alice.post(`${mail.links.approve}/decision`, { csrf: alice.csrf, decision: "deny" });
    const result = await alice.open(mail.links.approve);
    expect(result.html).toContain('data-status="denied"');
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("access_denied");
    // Deciding again changes nothing.
    await alice.post(`${mail.links.approve}/decision`, { csrf: alice.csrf, decision: "approve" });
    expect((await alice.open(mail.links.approve)).html).toContain('data-status="denied"');
  });

  it("answers expired_token once requested_expiry has passed, and the page says expired", async () => {
    const detail = order();
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(detail, { requested_expiry: "2" }));
    expect(ack.expires_in).toBe(2);
    const mail = await mailForOrder(server, detail.order_id as string);
    await new Promise((r) => setTimeout(r, 2600));
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("expired_token");
    const alice = new ApprovalPageUser();
    const page = await alice.open(mail.links.approve);
    expect(page.status).toBe(410);
    expect(page.html).toContain('data-testid="approval-expired"');
  });

  it("caps requested_expiry at the configured maximum", async () => {
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(order(), { requested_expiry: "99999" }));
    expect(ack.expires_in).toBe(120);
  });

  it("refuses another client's auth_req_id with invalid_grant", async () => {
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(order()));
    const other = await pollOnce(server, ack.auth_req_id, OTHER_CLIENT.id, OTHER_CLIENT.secret);
    expect(other).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect((await pollOnce(server, "not-an-issued-id-0123456789abcdef")).body.error).toBe("invalid_grant");
  });

  it("answers slow_down to a client that polls faster than the interval", async () => {
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(order()));
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("authorization_pending");
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("slow_down");
  });
});

describe("backchannel authentication request validation", () => {
  const backchannel = () => `${server.url}/oidc/backchannel`;

  it("requires exactly one hint (CIBA Core §7.1)", async () => {
    const detail = order();
    const none = await postForm(backchannel(), cibaParams(detail, { login_hint: undefined }));
    expect(none).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    const two = await postForm(backchannel(), { ...cibaParams(detail), id_token_hint: "eyJhbGciOiJub25lIn0.e30." });
    expect(two).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    const unknown = await postForm(backchannel(), cibaParams(detail, { login_hint: "mallory@example.com" }));
    expect(unknown.body.error).toBe("unknown_user_id");
    const byId = await postForm(backchannel(), cibaParams(order(), { login_hint: "alice" }));
    expect(byId.status).toBe(200);
  });

  it("requires the openid scope", async () => {
    const res = await postForm(backchannel(), cibaParams(order(), { scope: "stock:read stock:trade" }));
    expect(res).toMatchObject({ status: 400, body: { error: "invalid_request" } });
  });

  it("refuses bad binding messages with invalid_binding_message", async () => {
    for (const message of ["x".repeat(65), "BUY 38 NVDA <script>", "PAY $100", "line\nbreak", " "]) {
      const res = await postForm(backchannel(), cibaParams(order(), { binding_message: message }));
      expect(res.body.error, message).toBe("invalid_binding_message");
    }
    const ok = await postForm(backchannel(), cibaParams(order(), { binding_message: "SELL 5 NVDA min 1.00 USD, ref: #A-1_b.c+d" }));
    expect(ok.status).toBe(200);
  });

  it("validates authorization_details strictly (RFC 9396 §5)", async () => {
    const bad: Array<[string, string]> = [
      ["not JSON", "{"],
      ["not an array", JSON.stringify(order())],
      ["unknown type", JSON.stringify([{ ...order(), type: "wire_transfer" }])],
      ["unknown field", JSON.stringify([{ ...order(), note: "hi" }])],
      ["missing field", JSON.stringify([(({ max_notional: _m, ...rest }) => rest)(order())])],
      ["quantity as string", JSON.stringify([order({ quantity: "38" })])],
      ["fractional quantity", JSON.stringify([order({ quantity: 1.5 })])],
      ["zero quantity", JSON.stringify([order({ quantity: 0 })])],
      ["price as number", JSON.stringify([order({ limit_price: 131.2 })])],
      ["negative price", JSON.stringify([order({ limit_price: "-1.00" })])],
      ["bad order id", JSON.stringify([order({ order_id: "order-1" })])],
      ["lower-case symbol", JSON.stringify([order({ symbol: "nvda" })])],
      ["bad side", JSON.stringify([order({ side: "short" })])],
      ["bad expiry", JSON.stringify([order({ expires_at: "tomorrow" })])],
      ["expired order", JSON.stringify([order({ expires_at: new Date(Date.now() - 1000).toISOString() })])],
      ["two orders", JSON.stringify([order(), order()])],
    ];
    for (const [label, value] of bad) {
      const res = await postForm(backchannel(), cibaParams(order(), { authorization_details: value }));
      expect(res.body.error, label).toBe("invalid_authorization_details");
    }
    const missing = await postForm(backchannel(), cibaParams(order(), { authorization_details: undefined }));
    expect(missing.body.error).toBe("invalid_request");
  });

  it("verifies the actor token and requires its type", async () => {
    const actor = await agentToken(agent);
    const untyped = await postForm(backchannel(), { ...cibaParams(order()), actor_token: actor });
    expect(untyped.body.error).toBe("invalid_request");
    const forged = `${actor.slice(0, -4)}AAAA`;
    const bad = await postForm(backchannel(), { ...cibaParams(order()), actor_token: forged, actor_token_type: ACCESS_TOKEN_TYPE });
    expect(bad.body.error).toBe("invalid_request");
    const foreign = await postForm(
      backchannel(),
      { ...cibaParams(order()), actor_token: actor, actor_token_type: ACCESS_TOKEN_TYPE },
      OTHER_CLIENT.id,
      OTHER_CLIENT.secret,
    );
    expect(foreign.body.error).toBe("invalid_request");
  });

  it("answers a wrong client secret with 401 invalid_client", async () => {
    const res = await postForm(backchannel(), cibaParams(order()), AGENT_CLIENT_ID, "not-the-secret");
    expect(res).toMatchObject({ status: 401, body: { error: "invalid_client" } });
  });
});

describe("approval page guards", () => {
  it("refuses a POST without the CSRF token and a wrong password, and GET never decides", async () => {
    const detail = order();
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(detail));
    const mail = await mailForOrder(server, detail.order_id as string);
    const alice = new ApprovalPageUser();
    await alice.open(mail.links.approve);
    const noCsrf = await alice.post(`${mail.links.approve}/sign-in`, { username: "alice", password: "correct horse battery staple" });
    expect(noCsrf.status).toBe(403);
    const wrong = await alice.post(`${mail.links.approve}/sign-in`, { csrf: alice.csrf, username: "alice", password: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain("Wrong email or password.");
    const unsigned = await alice.post(`${mail.links.approve}/decision`, { csrf: alice.csrf, decision: "approve" });
    expect(unsigned.status).toBe(303);
    const forgedSession = new ApprovalPageUser();
    await forgedSession.open(mail.links.approve);
    expect((await forgedSession.open(`${mail.links.approve}?decision=approve`)).html).toContain("sign-in-form");
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("authorization_pending");
    const unknown = await alice.open(`${server.url}/oidc/approve/apr_${"x".repeat(43)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.html).toContain('data-testid="approval-unknown"');
  });
});
