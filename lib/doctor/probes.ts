import "server-only";
import type { FetchLike } from "../auth/app-fetch";
import { describe } from "../auth/oauth-errors";
import type { AppConfig } from "../config";

/**
 * The doctor's plain HTTP looks at the tenant: where its documents are, reading JSON, and the one
 * request that tells whether the CIBA endpoint accepts our client without notifying anyone.
 */
export interface TenantEndpoints {
  discovery: string;
  /** Known without discovery for WSO2 and Auth0; the embedded server's comes from discovery. */
  ciba?: string;
  tokenEndpoint?: string;
  clientAuth: "client_secret_basic" | "client_secret_post";
}

export function tenantEndpoints(config: AppConfig): TenantEndpoints {
  switch (config.auth.provider) {
    case "wso2": {
      const base = config.wso2!.baseUrl;
      return { discovery: `${base}/oauth2/token/.well-known/openid-configuration`, ciba: `${base}/oauth2/ciba`, tokenEndpoint: `${base}/oauth2/token`, clientAuth: "client_secret_basic" };
    }
    case "auth0": {
      const origin = config.auth0!.origin;
      return { discovery: `${origin}/.well-known/openid-configuration`, ciba: `${origin}/bc-authorize`, tokenEndpoint: `${origin}/oauth/token`, clientAuth: config.auth0!.clientAuth };
    }
    case "embedded":
      return { discovery: `${config.publicUrl}/oidc/.well-known/openid-configuration`, clientAuth: "client_secret_basic" };
  }
}

export type JsonResult = { kind: "json"; status: number; body: Record<string, unknown>; headers: Headers } | { kind: "not-json"; status: number } | { kind: "unreachable"; message: string };

export async function getJson(fetch: FetchLike, url: string, init: RequestInit = {}): Promise<JsonResult> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    return { kind: "unreachable", message: networkMessage(error) };
  }
  const body = (await response.json().catch(() => undefined)) as unknown;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { kind: "not-json", status: response.status };
  return { kind: "json", status: response.status, body: body as Record<string, unknown>, headers: response.headers };
}

/** describe() plus the cause's own message when it has no code ("fetch failed: bad port"). */
function networkMessage(error: unknown): string {
  const text = describe(error);
  const cause = error instanceof Error ? (error.cause as { message?: unknown; code?: unknown } | undefined) : undefined;
  return cause && cause.code === undefined && typeof cause.message === "string" ? `${text}: ${cause.message}` : text;
}

/** Fix hints for a server that could not be reached at all. */
export function unreachableHints(config: AppConfig, message: string, url: string): string[] {
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|CERT_|certificate/i.test(message)) {
    return [
      "The server's certificate is not trusted. Point WSO2_CA_FILE at its certificate (PEM), e.g.",
      `openssl s_client -connect ${new URL(url).host} -showcerts </dev/null | openssl x509 > wso2-ca.pem; WSO2_CA_FILE=./wso2-ca.pem`,
      "TLS verification stays on: never set NODE_TLS_REJECT_UNAUTHORIZED=0.",
    ];
  }
  if (config.auth.provider === "embedded") return [`The embedded server answers inside the app: start it first (npm run dev), then run the doctor against PUBLIC_URL ${config.publicUrl}.`];
  if (config.auth.provider === "wso2") return [`Is WSO2 Identity Server running at ${config.wso2!.baseUrl}? Check WSO2_BASE_URL (scheme, host, port, /t/{tenant} or /o/{org} path).`];
  return [`Check AUTH0_DOMAIN (${config.auth0!.origin}) and your network.`];
}

/**
 * A backchannel authentication request that cannot notify anyone, built to pass the client and
 * grant checks and fail right after them.
 *
 * - Auth0 and the embedded server: no login_hint. CIBA Core §7.1 requires exactly one hint, so a
 *   server that accepts the client answers invalid_request. A wrong secret answers invalid_client
 *   (Auth0: access_denied "Unauthorized"); a client without the CIBA grant unauthorized_client.
 * - WSO2 checks scope and login_hint before the client's grant types (identity-inbound-auth-oauth
 *   OAuth2CibaEndpoint#ciba), so a probe without login_hint says nothing about the CIBA grant.
 *   This one sends both, a login_hint that names nobody and a binding_message with `<` that its
 *   binding-message rule refuses right after the grant check, before any user is looked up:
 *   invalid_binding_message means the client and its CIBA grant are accepted;
 *   unauthorized_client (HTTP 400) means CIBA is not an allowed grant type.
 */
export const WSO2_PROBE = { loginHint: "sleeping-guardian-doctor-probe", bindingMessage: "<doctor probe: never sent to anyone>" };

export async function probeCiba(fetch: FetchLike, endpoint: string, config: AppConfig, clientSecret: string, clientAuth: TenantEndpoints["clientAuth"]): Promise<JsonResult> {
  const form = new URLSearchParams({ scope: "openid" });
  if (config.auth.provider === "auth0") form.set("audience", config.auth.audience);
  if (config.auth.provider === "wso2") {
    form.set("login_hint", WSO2_PROBE.loginHint);
    form.set("binding_message", WSO2_PROBE.bindingMessage);
  }
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (clientAuth === "client_secret_basic") {
    const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
    headers.authorization = `Basic ${Buffer.from(`${encode(config.auth.agentClientId)}:${encode(clientSecret)}`).toString("base64")}`;
  } else {
    form.set("client_id", config.auth.agentClientId);
    form.set("client_secret", clientSecret);
  }
  return getJson(fetch, endpoint, { method: "POST", headers, body: form });
}

export function oauthError(result: JsonResult): { error: string; description?: string } | undefined {
  if (result.kind !== "json" || typeof result.body.error !== "string") return undefined;
  return { error: result.body.error, description: typeof result.body.error_description === "string" ? result.body.error_description : undefined };
}
