import { randomBytes } from "node:crypto";
import * as oidc from "openid-client";
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTHeaderParameters } from "jose";
import { parseConfig, type AppConfig } from "@/lib/config";
import type { AppServer } from "../helpers/app-server";
import { asInvestor } from "../helpers/investor-session";

/**
 * Shared by the embedded-IdP tests (tests/integration/idp-*.test.ts, tests/e2e/idp-*.test.ts):
 * known secrets for the app under test, an openid-client configuration per client, a valid order,
 * and a small cookie-keeping client for the approval page over plain HTTP.
 */
export const AGENT_CLIENT_ID = "aurelius-agent";
export const AGENT_SECRET = "agent-secret-for-tests-0123456789";
export const PASSWORD = "correct horse battery staple";
export const OTHER_CLIENT = { id: "other-client", secret: "other-client-secret-0123456789" };
export const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

export function idpEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    INVESTOR_PASSWORD: PASSWORD,
    AGENT_CLIENT_SECRET: AGENT_SECRET,
    IDP_TEST_CLIENT: `${OTHER_CLIENT.id}:${OTHER_CLIENT.secret}`,
    MAX_PENDING_APPROVALS: "50",
    ...extra,
  };
}

/** The configuration for the embedded server started in-process at `publicUrl` on an in-memory store, with the known secrets above; `extra` adds to the environment. */
export function inProcessIdpConfig(publicUrl: string, extra: Record<string, string> = {}): AppConfig {
  return parseConfig({ NODE_ENV: "test", PUBLIC_URL: publicUrl, DATA_DIR: "memory://", AGENT_CLIENT_SECRET: AGENT_SECRET, INVESTOR_PASSWORD: PASSWORD, ...extra });
}

export async function clientFor(server: AppServer, id = AGENT_CLIENT_ID, secret = AGENT_SECRET): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(`${server.url}/oidc`), id, undefined, oidc.ClientSecretBasic(secret), {
    execute: [oidc.allowInsecureRequests],
  });
}

export async function agentToken(config: oidc.Configuration): Promise<string> {
  return (await oidc.clientCredentialsGrant(config, { scope: "openid stock:read" })).access_token;
}

export function newOrderId(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  return `ord_${[...randomBytes(20)].map((b) => alphabet[b % alphabet.length]).join("")}`;
}

export function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "stock_trade",
    order_id: newOrderId(),
    symbol: "NVDA",
    side: "buy",
    quantity: 38,
    limit_price: "131.20",
    max_notional: "5000.00",
    expires_at: new Date(Date.now() + 10 * 60_000).toISOString(),
    ...overrides,
  };
}

export function cibaParams(detail: Record<string, unknown>, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const params: Record<string, string | undefined> = {
    scope: "openid stock:read stock:trade",
    login_hint: "alice@example.com",
    binding_message: `BUY ${detail.quantity} ${detail.symbol} max ${detail.limit_price} USD #K7Q2`,
    authorization_details: JSON.stringify([detail]),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The OAuth error of a failed openid-client call: `{ error, status }`. Fails if the call succeeded. */
export async function oauthError(call: Promise<unknown>): Promise<{ error: string; status: number; description?: string }> {
  try {
    await call;
  } catch (e) {
    if (e instanceof oidc.ResponseBodyError) return { error: e.error, status: e.status, description: e.error_description };
    // A 401 with `WWW-Authenticate: Basic error="invalid_client"` (RFC 6749 §5.2).
    if (e instanceof oidc.WWWAuthenticateChallengeError) {
      return { error: String(e.cause[0]?.parameters.error), status: e.status, description: e.cause[0]?.parameters.error_description };
    }
    throw e;
  }
  throw new Error("expected an OAuth error response, but the request succeeded");
}

/** Raw POST of a form to the token or backchannel endpoint with HTTP Basic client auth. */
export async function postForm(url: string, form: Record<string, string>, id = AGENT_CLIENT_ID, secret = AGENT_SECRET) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(form),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** One poll of the token endpoint for an auth_req_id (no waiting, no retry). */
export function pollOnce(server: AppServer, authReqId: string, id = AGENT_CLIENT_ID, secret = AGENT_SECRET) {
  return postForm(`${server.url}/oidc/token`, { grant_type: CIBA_GRANT, auth_req_id: authReqId }, id, secret);
}

export async function verifyAccessToken(server: AppServer, token: string): Promise<{ payload: JWTPayload & Record<string, unknown>; header: JWTHeaderParameters }> {
  const jwks = createRemoteJWKSet(new URL(`${server.url}/oidc/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: `${server.url}/oidc`,
    audience: `${server.url}/mcp`,
    typ: "at+jwt",
    algorithms: ["RS256"],
  });
  return { payload: payload as JWTPayload & Record<string, unknown>, header: protectedHeader };
}

export interface InboxMail {
  id: string;
  subject: string;
  text: string;
  html: string;
  read: boolean;
  links: { approve: string; deny: string };
}

/** The mail that mentions this order id (waits briefly for it to land). */
export async function mailForOrder(server: AppServer, orderId: string): Promise<InboxMail> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const list = (await (await asInvestor(server.url, "/api/inbox")).json()) as { messages: Array<{ id: string }> };
    for (const summary of list.messages) {
      const mail = (await (await asInvestor(server.url, `/api/inbox/${summary.id}`)).json()) as InboxMail;
      if (mail.text.includes(orderId)) return mail;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail for ${orderId}`);
}

/** A browser-less user of the approval page: keeps cookies, reads the CSRF field, posts forms. */
export class ApprovalPageUser {
  private readonly cookies = new Map<string, string>();
  csrf = "";

  private remember(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async open(url: string): Promise<{ status: number; html: string }> {
    const res = await fetch(url, { headers: { cookie: this.cookieHeader() }, redirect: "manual" });
    this.remember(res);
    const html = await res.text();
    this.csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? this.csrf;
    return { status: res.status, html };
  }

  async post(url: string, form: Record<string, string>): Promise<{ status: number; location: string | null; html: string }> {
    const res = await fetch(url, {
      method: "POST",
      // A browser names the page's origin on every POST; the approval page refuses a POST without it.
      headers: { cookie: this.cookieHeader(), "content-type": "application/x-www-form-urlencoded", origin: new URL(url).origin },
      body: new URLSearchParams(form),
      redirect: "manual",
    });
    this.remember(res);
    const html = await res.text();
    this.csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? this.csrf;
    return { status: res.status, location: res.headers.get("location"), html };
  }

  /** Approve link → sign in → decide; returns the final page. */
  async decide(link: string, decision: "approve" | "deny", password = PASSWORD): Promise<{ status: number; html: string }> {
    const page = link.split("?")[0]!;
    await this.open(link);
    const signIn = await this.post(`${page}/sign-in`, { csrf: this.csrf, username: "alice@example.com", password, decision });
    if (signIn.status !== 303) throw new Error(`sign-in answered ${signIn.status}`);
    await this.open(new URL(signIn.location!, page).href);
    const decided = await this.post(`${page}/decision`, { csrf: this.csrf, decision });
    if (decided.status !== 303) throw new Error(`decision answered ${decided.status}`);
    return this.open(new URL(decided.location!, page).href);
  }
}
