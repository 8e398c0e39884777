import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { createEmbeddedProfile } from "../../lib/auth/profiles/embedded";
import type { IdentityServerProfile, TokenResult } from "../../lib/auth/profiles/types";
import { accessTokenHash } from "../../mcp/dpop";
import type { AppServer } from "../helpers/app-server";

/**
 * What an attacker who holds the agent's credentials, or tokens it was issued, does against the
 * running app over HTTP: tokens from the embedded server's token endpoint (a DPoP-bound one as the
 * agent gets, and a bearer one), calls to /mcp with them, and the CIBA poll.
 */
export const AGENT_CLIENT_ID = "aurelius-agent";
export const AGENT_SECRET = "kill-switch-test-agent-secret-0123456789";
export const PASSWORD = "alice-test-password-1";

/** The app for these tests: its own agent on, a threshold it never reaches, fast polling. */
export const KILL_SWITCH_ENV = {
  AGENT_CLIENT_SECRET: AGENT_SECRET,
  INVESTOR_PASSWORD: PASSWORD,
  PRICE_THRESHOLD: "20.00",
  MARKET_TICK_MS: "250",
  CIBA_INTERVAL_SECONDS: "1",
};

/** The embedded profile as the agent uses it, with the secret the attacker holds (its own DPoP key). */
export function agentProfile(app: AppServer, secret = AGENT_SECRET): IdentityServerProfile {
  return createEmbeddedProfile({
    issuer: `${app.url}/oidc`,
    clientId: AGENT_CLIENT_ID,
    clientSecret: secret,
    resource: `${app.url}/mcp`,
    loginHint: "alice@example.com",
    fetch: (input, init) => fetch(input, init),
    allowHttp: true,
  });
}

/** Client credentials without a DPoP proof: a bearer token (or the server's OAuth error). */
export async function clientCredentials(app: AppServer, secret = AGENT_SECRET): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${app.url}/oidc/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${AGENT_CLIENT_ID}:${secret}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "openid stock:read", resource: `${app.url}/mcp` }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** A CIBA poll with `secret` (OpenID CIBA Core §10.1). */
export async function pollCiba(app: AppServer, authReqId: string, secret = AGENT_SECRET): Promise<{ status: number; error: string }> {
  const res = await fetch(`${app.url}/oidc/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${AGENT_CLIENT_ID}:${secret}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: authReqId }),
  });
  return { status: res.status, error: ((await res.json()) as { error?: string }).error ?? "" };
}

export interface McpAnswer {
  status: number;
  error: string;
  challenge: string;
}

/** get_market_price at /mcp with `token`: as a bearer token, or with the DPoP scheme and a fresh proof of its key. */
export async function readPrice(app: AppServer, token: TokenResult | string): Promise<McpAnswer> {
  const resource = `${app.url}/mcp`;
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  if (typeof token === "string") headers.authorization = `Bearer ${token}`;
  else if (token.dpop) {
    const key = token.dpop;
    headers.authorization = `DPoP ${token.accessToken}`;
    headers.dpop = await new SignJWT({ jti: randomUUID(), htm: "POST", htu: resource, iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(token.accessToken) })
      .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk })
      .sign(key.privateKey);
  } else headers.authorization = `Bearer ${token.accessToken}`;
  const res = await fetch(resource, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: "NVDA" } } }),
  });
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  return { status: res.status, error: body.error ?? "", challenge: res.headers.get("www-authenticate") ?? "" };
}
