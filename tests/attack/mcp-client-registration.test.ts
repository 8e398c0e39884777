import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dashboardOf } from "../helpers/agent-app";
import { MCP_ACCEPT, startApp, type AppServer } from "../helpers/app-server";
import { CookieJar, investorPasswordFor, TEST_INVESTOR_EMAIL } from "../helpers/investor-session";
import { authorizeAsAlice, CLIENT_REDIRECT } from "../helpers/mcp-oauth-client";

/**
 * Clients that introduce themselves (dynamic registration, Client ID Metadata Documents), attacked:
 * registration cannot buy a grant type, an order type, a trade scope, a non-loopback http redirect
 * or another client's identity; the consent screen keeps the login page's guards (origin, form
 * token, this browser's interaction only); tokens are for the MCP resource alone, codes and PKCE
 * hold, refresh tokens rotate, and a user token from consent cannot trade. Real HTTP against the
 * built app and its embedded server.
 */
let app: AppServer;
let issuer: string;
let mcpUrl: string;

beforeAll(async () => {
  app = await startApp({ AGENT_ENABLED: "false" });
  issuer = `${app.url}/oidc`;
  mcpUrl = `${app.url}/mcp`;
});
afterAll(async () => app?.stop());

const GOOD = {
  client_name: "Attack test host",
  redirect_uris: [CLIENT_REDIRECT],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
};

async function register(metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${issuer}/reg`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(metadata) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, string> };
}

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function authorizeUrl(clientId: string, challenge: string, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    redirect_uri: CLIENT_REDIRECT,
    scope: "stock:read",
    resource: mcpUrl,
    state: "s1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...extra,
  });
  return `${issuer}/auth?${params}`;
}

async function token(form: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${issuer}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** A registered client, Alice's consent, and its code: the happy path the attacks start from. */
async function consentedCode(clientId: string) {
  const { verifier, challenge } = pkce();
  const run = await authorizeAsAlice(app.url, authorizeUrl(clientId, challenge));
  const code = run.callback.searchParams.get("code");
  if (!code) throw new Error(`no code: ${run.callback}`);
  return { code, verifier, run };
}

async function callTool(accessToken: string, name: string, args: Record<string, unknown>): Promise<Response> {
  return fetch(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
  });
}

describe("dynamic registration refuses what a public MCP client must not have", () => {
  // RFC 7591 §3.2.2: a bad redirect URI is invalid_redirect_uri, anything else invalid_client_metadata.
  const CASES: Array<[string, Record<string, unknown>, RegExp, string?]> = [
    ["CIBA", { grant_types: ["authorization_code", "urn:openid:params:grant-type:ciba"] }, /grant type urn:openid:params:grant-type:ciba/],
    ["client credentials", { grant_types: ["authorization_code", "client_credentials"] }, /grant type client_credentials/],
    ["token exchange", { grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"] }, /token-exchange/],
    ["implicit", { response_types: ["code", "id_token"], grant_types: ["authorization_code", "implicit"] }, /implicit|id_token/],
    ["a standing-mandate type", { authorization_details_types: ["stock_trade", "stock_trade_mandate"] }, /authorization_details_types stock_trade_mandate/],
    ["the trade scope", { scope: "openid stock:read stock:trade" }, /scope stock:trade/],
    ["a secret (confidential client)", { token_endpoint_auth_method: "client_secret_basic" }, /token_endpoint_auth_method must be none/],
    ["a plain-http redirect to another host", { redirect_uris: ["http://attacker.example/cb"] }, /loopback/, "invalid_redirect_uri"],
    ["a redirect with a fragment", { redirect_uris: ["https://host.example/cb#x"] }, /fragment/, "invalid_redirect_uri"],
    ["a javascript: redirect", { redirect_uris: ["javascript:alert(1)"] }, /scheme/, "invalid_redirect_uri"],
    ["the dashboard's name", { client_name: "Sleeping Guardian dashboard" }, /own application/],
    ["the agent's name, disguised", { client_name: "AURELIUS ✓ official" }, /own application/],
    ["a name with direction overrides", { client_name: "Safe\u202eevil" }, /control or direction/],
    ["a huge name", { client_name: "x".repeat(20_000) }, /at most 80/],
  ];
  for (const [what, patch, description, error = "invalid_client_metadata"] of CASES) {
    it(`${what}: 400 ${error}`, async () => {
      const { status, body } = await register({ ...GOOD, ...patch });
      expect(status).toBe(400);
      expect(body.error).toBe(error);
      expect(body.error_description).toMatch(description);
    });
  }

  it("metadata over 64 KiB is refused before it reaches the server (413)", async () => {
    const { status } = await register({ ...GOOD, client_uri: `https://host.example/${"a".repeat(70_000)}` });
    expect(status).toBe(413);
  });

  it("a client_id in the request is ignored: nobody registers as the dashboard or the agent", async () => {
    for (const id of ["sleeping-guardian-dashboard", "aurelius-agent"]) {
      const { status, body } = await register({ ...GOOD, client_id: id });
      expect(status).toBe(201);
      expect(body.client_id).not.toBe(id);
      expect(body.client_id).toMatch(/^[\w-]{20,}$/);
      expect(body.client_secret).toBeUndefined();
      expect(body.registration_access_token).toBeUndefined();
    }
  });

  it("loopback http redirects on any port and https redirects are accepted, as a public client", async () => {
    const { status, body } = await register({ ...GOOD, redirect_uris: ["http://127.0.0.1:1/cb", "http://localhost:65000/x", "http://[::1]:8080/", "https://host.example/cb"] });
    expect(status).toBe(201);
    expect(body).toMatchObject({ token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"] });
  });
});

describe("Client ID Metadata Documents", () => {
  it("an https client_id on a loopback address and port is refused before any connection", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const { challenge } = pkce();
      const res = await fetch(authorizeUrl(`https://127.0.0.1:${port}/client.json`, challenge), { redirect: "manual" });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("invalid_client");
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe("the consent screen", () => {
  let clientId: string;
  beforeAll(async () => {
    clientId = (await register({ ...GOOD, client_name: '<img src=x onerror=alert(1)> "Host"' })).body.client_id!;
  });

  it("shows the unverified name escaped, the client id, the return origin, the scope and the resource", async () => {
    const { run } = await consentedCode(clientId);
    const html = run.consentHtml!;
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt; &quot;Host&quot;");
    expect(html).toContain("has not checked it");
    expect(html).toContain(clientId);
    expect(html).toMatch(/data-testid="consent-return-origin">http:\/\/127\.0\.0\.1:49152</);
    expect(html).toContain("a program on this computer");
    expect(html).toContain("<code>stock:read</code>");
    expect(html).toContain(`data-testid="consent-resource">${mcpUrl}<`);
    expect(html).not.toContain("stock:trade");
    expect(html).not.toContain('data-testid="consent-refused"');
  });

  async function atConsent() {
    const { challenge } = pkce();
    const jar = new CookieJar();
    // Alice's browser up to the consent page, where it stops.
    const go = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), cookie: jar.header() }, redirect: "manual" });
      jar.keep(res);
      return res;
    };
    let res = await go(authorizeUrl(clientId, challenge));
    let url = "";
    while (res.status === 303 || res.status === 302) {
      url = new URL(res.headers.get("location")!, app.url).toString();
      res = await go(url);
    }
    const login = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(login)![1]!;
    res = await go(`${url}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: app.url },
      body: new URLSearchParams({ csrf, username: TEST_INVESTOR_EMAIL, password: investorPasswordFor(app.url) }).toString(),
    });
    while (res.status === 303 || res.status === 302) {
      url = new URL(res.headers.get("location")!, app.url).toString();
      res = await go(url);
    }
    const html = await res.text();
    expect(html).toContain('data-testid="consent-form"');
    return { jar, go, consentUrl: url, csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]! };
  }
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const FORM = "application/x-www-form-urlencoded";

  it("refuses a cross-origin POST (403), a missing or foreign form token (403), and another browser (expired)", async () => {
    const a = await atConsent();
    const crossOrigin = await a.go(`${a.consentUrl}/consent`, { method: "POST", headers: { "content-type": FORM, origin: "http://attacker.example" }, body: form({ csrf: a.csrf }) });
    expect(crossOrigin.status).toBe(403);
    const noToken = await a.go(`${a.consentUrl}/consent`, { method: "POST", headers: { "content-type": FORM, origin: app.url }, body: form({}) });
    expect(noToken.status).toBe(403);
    const b = await atConsent();
    const foreignToken = await a.go(`${a.consentUrl}/consent`, { method: "POST", headers: { "content-type": FORM, origin: app.url }, body: form({ csrf: b.csrf }) });
    expect(foreignToken.status).toBe(403);
    // Another browser (no interaction cookie) posting a valid-looking form for a's interaction.
    const stranger = await fetch(`${a.consentUrl}/consent`, { method: "POST", headers: { "content-type": FORM, origin: app.url }, body: form({ csrf: a.csrf }), redirect: "manual" });
    expect(stranger.status).toBe(400);
    expect(await stranger.text()).toContain('data-testid="login-expired"');
    // A consent form cannot be posted to the login action of the same interaction.
    const asLogin = await a.go(`${a.consentUrl}/login`, { method: "POST", headers: { "content-type": FORM, origin: app.url }, body: form({ csrf: a.csrf, username: "alice@example.com", password: "x" }) });
    expect(asLogin.status).toBe(400);
    // After all that, a's own consent still works: the refusals changed nothing.
    const ok = await a.go(`${a.consentUrl}/consent`, { method: "POST", headers: { "content-type": FORM, origin: app.url }, body: form({ csrf: a.csrf }) });
    expect(ok.status).toBe(303);
  });

  it("deny sends access_denied to the client and no code", async () => {
    const { challenge } = pkce();
    const run = await authorizeAsAlice(app.url, authorizeUrl(clientId, challenge), "deny");
    expect(run.callback.searchParams.get("error")).toBe("access_denied");
    expect(run.callback.searchParams.get("code")).toBeNull();
  });
});

describe("tokens from consent", () => {
  let clientId: string;
  beforeAll(async () => {
    clientId = (await register(GOOD)).body.client_id!;
  });

  it("a redirect_uri not registered is refused without a redirect", async () => {
    const { challenge } = pkce();
    const res = await fetch(authorizeUrl(clientId, challenge, { redirect_uri: "http://127.0.0.1:49153/other" }), { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("redirect_uri did not match");
  });

  it("another resource is refused at the authorization endpoint (invalid_target)", async () => {
    const { challenge } = pkce();
    const res = await fetch(authorizeUrl(clientId, challenge, { resource: `${app.url}/api` }), { redirect: "manual" });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get("location")!);
    expect(location.searchParams.get("error")).toBe("invalid_target");
  });

  it("an order in the authorization request is refused: the client has no authorization_details types", async () => {
    const { challenge } = pkce();
    const detail = { type: "stock_trade", order_id: "ord_0123456789abcdef0123", symbol: "NVDA", side: "buy", quantity: 1, limit_price: "1000.00", max_notional: "1000.00", expires_at: new Date(Date.now() + 60_000).toISOString() };
    const res = await fetch(authorizeUrl(clientId, challenge, { authorization_details: JSON.stringify([detail]) }), { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get("location")!).searchParams.get("error")).toBe("invalid_authorization_details");
  });

  it("a plain code request without PKCE is refused", async () => {
    const url = new URL(authorizeUrl(clientId, "x"));
    url.searchParams.delete("code_challenge");
    url.searchParams.delete("code_challenge_method");
    const res = await fetch(url, { redirect: "manual" });
    expect(new URL(res.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");
  });

  it("a wrong PKCE verifier gets invalid_grant; a replayed code gets invalid_grant and revokes what the code gave", async () => {
    const { code, verifier } = await consentedCode(clientId);
    const redeem = (codeVerifier: string) =>
      token({ grant_type: "authorization_code", client_id: clientId, code, redirect_uri: CLIENT_REDIRECT, code_verifier: codeVerifier, resource: mcpUrl });
    expect(await redeem(pkce().verifier)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    // A wrong verifier does not spend the code (oidc-provider checks PKCE before consuming it).
    const first = await redeem(verifier);
    expect(first.status).toBe(200);
    expect(await redeem(verifier)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    const refresh = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: first.body.refresh_token!, resource: mcpUrl });
    expect(refresh).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });

  it("issues a reading token for /mcp (sub Alice, no act), asking for the trade scope gets nothing more, and it cannot trade", async () => {
    const { verifier, challenge } = pkce();
    // The client asks for stock:trade too: the resource offers it only reading, consent grants only that.
    const run = await authorizeAsAlice(app.url, authorizeUrl(clientId, challenge, { scope: "stock:read stock:trade" }));
    expect(run.consentHtml).not.toMatch(/<li data-testid="consent-scope">.*stock:trade/);
    expect(run.consentHtml).toMatch(/data-testid="consent-refused">Asked for but never granted here: <code>stock:trade<\/code>\./);
    const code = run.callback.searchParams.get("code")!;
    const got = await token({ grant_type: "authorization_code", client_id: clientId, code, redirect_uri: CLIENT_REDIRECT, code_verifier: verifier, resource: mcpUrl });
    expect(got.status).toBe(200);
    const claims = decodeJwt(got.body.access_token!);
    const alice = (await dashboardOf(app.url)).portfolio!.userSub;
    expect(claims).toMatchObject({ sub: alice, aud: mcpUrl, client_id: clientId, scope: "stock:read" });
    expect(claims.act).toBeUndefined();
    expect(claims.authorization_details).toBeUndefined();

    const portfolio = await callTool(got.body.access_token!, "get_portfolio", {});
    expect(portfolio.status).toBe(200);
    const before = (await dashboardOf(app.url)).trades.length;
    for (const tool of ["buy_stock", "sell_stock"]) {
      const res = await callTool(got.body.access_token!, tool, { symbol: "NVDA", quantity: 1, order_id: "ord_0123456789abcdef0123" });
      expect(res.status, tool).toBe(403);
      expect(res.headers.get("www-authenticate"), tool).toContain('error="insufficient_authorization"');
    }
    expect((await dashboardOf(app.url)).trades.length).toBe(before);

    // Refresh: rotated, same audience, never wider, never elsewhere.
    const refreshed = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: got.body.refresh_token!, resource: mcpUrl });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(got.body.refresh_token);
    expect(decodeJwt(refreshed.body.access_token!)).toMatchObject({ sub: alice, aud: mcpUrl, scope: "stock:read" });
    const wider = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: refreshed.body.refresh_token!, scope: "stock:read stock:trade" });
    expect(wider).toMatchObject({ status: 400, body: { error: "invalid_scope" } });
    // oidc-provider answers a resource outside the grant with invalid_grant (RFC 8707 names invalid_target).
    const elsewhere = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: refreshed.body.refresh_token!, resource: `${app.url}/api` });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error).toMatch(/^invalid_(grant|target)$/);
    // The spent refresh token is refused, and its reuse revokes the grant: the newer one dies too.
    const reused = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: got.body.refresh_token!, resource: mcpUrl });
    expect(reused).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    const after = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: refreshed.body.refresh_token!, resource: mcpUrl });
    expect(after).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });

  it("a registered client cannot use client credentials, CIBA or token exchange at the token endpoint", async () => {
    const cc = await token({ grant_type: "client_credentials", client_id: clientId, scope: "stock:read", resource: mcpUrl });
    expect(cc).toMatchObject({ status: 400, body: { error: "invalid_request", error_description: "requested grant type is not allowed for this client" } });
    const exchange = await token({ grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", client_id: clientId, subject_token: "x", subject_token_type: "urn:ietf:params:oauth:token-type:access_token" });
    expect(exchange.status).toBe(400);
    expect(exchange.body.error).toMatch(/^(invalid_request|unauthorized_client|invalid_client)$/);
    const ciba = await fetch(`${issuer}/backchannel`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: clientId, scope: "openid stock:read", login_hint: "alice@example.com" }).toString(),
    });
    expect(ciba.status).toBe(400);
    expect(await ciba.json()).toEqual({ error: "invalid_request", error_description: "urn:openid:params:grant-type:ciba is not allowed for this client" });
  });
});
