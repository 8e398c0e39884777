import type http from "node:http";
import { checkTokenRequestProof, createSigningKey, nowSeconds, randomId, sendJson, startFakeServer, waitFor, type RecordedRequest } from "./fake-http";

/**
 * A FAKE of an Auth0 tenant, for tests only: it replays the wire formats in
 * /work/shared/PROTOCOLS.md and Auth0's Authentication API documentation on a loopback port,
 * records every request, and lets a test approve, deny or expire a CIBA request.
 *
 *   GET  /.well-known/openid-configuration     issuer "{origin}/" (trailing slash)
 *   GET  /.well-known/jwks.json
 *   POST /oauth/token      client_credentials (audience = API identifier) and the CIBA grant
 *   POST /bc-authorize     login_hint {"format":"iss_sub",...}, binding_message (required, ≤ 64 of
 *                          letters, digits, space, +-_.,:#), requested_expiry, audience,
 *                          authorization_details (types registered on the API) → interval 5
 *
 * Auth0's habits that matter to a client: a failed client authentication is `access_denied`
 * "Unauthorized" (401); polling too fast is `slow_down` with `Retry-After`; a denial and an expiry
 * both read `access_denied` "The end-user denied the authorization request or it has been expired";
 * tokens have `sub` = the user, `azp` = the client, no `act`, no `jti`, `gty` only for client
 * credentials, the granted authorization_details in the response and as a claim.
 *
 * Signing keys: ID tokens and access tokens are signed (RS256, Auth0's default) with the one key
 * published at https://{domain}/.well-known/jwks.json, "the JWK used to verify all Auth0-issued
 * JWTs for this tenant" (https://auth0.com/docs/secure/tokens/json-web-tokens/json-web-key-sets).
 *
 * DPoP (https://auth0.com/docs/secure/sender-constraining/demonstrating-proof-of-possession-dpop
 * and .../get-started/applications/configure-sender-constraining): Auth0 binds tokens only for
 * the grant types that page lists (client_credentials yes, the CIBA grant no: a proof on the CIBA
 * poll is ignored here) and only when the API's sender-constraining policy allows it; a proof
 * sent for an API whose policy is none gets a token "Issued, Not Sender-Constrained". A bound
 * token has `token_type: DPoP` and `cnf.jkt`. Auth0 validates the proof's signature, htm, htu,
 * jti and iat and documents Elliptic Curve keys such as ES256; it names no error code, so a
 * refused proof is RFC 9449 §5's `invalid_dpop_proof` here, with a 60 s iat window.
 */
export interface Auth0FakeOptions {
  clientId?: string;
  clientSecret?: string;
  /** The application's Token Endpoint Authentication Method. */
  authMethod?: "client_secret_post" | "client_secret_basic";
  /** The API: identifier, scopes, registered authorization_details types. */
  api?: { identifier: string; scopes: string[]; rarTypes: string[] };
  /** The application's client grant for the API (Machine to Machine); null: not authorized. */
  clientGrantScopes?: string[] | null;
  /** Issue every scope of the client grant, ignoring a narrower requested `scope`. */
  issueAllGrantScopes?: boolean;
  /** Grant types enabled on the application. */
  grantTypes?: string[];
  /** Auth0 user ids that exist. */
  users?: string[];
  emptyJwks?: boolean;
  interval?: number;
  /** Retry-After (seconds) sent with slow_down. */
  retryAfter?: number;
  /** The API's sender-constraining policy (DPoP): "none" (not configured) or "allowed". */
  senderConstraining?: "none" | "allowed";
}

type CibaState = "pending" | "approved" | "denied" | "expired" | "redeemed";

export interface Auth0CibaRecord {
  authReqId: string;
  form: Record<string, string>;
  userId: string;
  state: CibaState;
  expiresAt: number;
  lastPolledAt: number;
  details: unknown[] | undefined;
}

const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
const BINDING_MESSAGE = /^[A-Za-z0-9 +\-_.,:#]{1,64}$/;
export const DENIED_OR_EXPIRED = "The end-user denied the authorization request or it has been expired";

export type Auth0Fake = Awaited<ReturnType<typeof startAuth0Fake>>;

export async function startAuth0Fake(options: Auth0FakeOptions = {}) {
  const o = {
    clientId: "Auth0AgentClientId123",
    clientSecret: "auth0-client-secret",
    authMethod: "client_secret_post" as const,
    api: { identifier: "https://broker.example.com/mcp", scopes: ["stock:read", "stock:trade"], rarTypes: ["urn:auth0:schemas:authorization-details:v1:stock_trade"] },
    clientGrantScopes: ["stock:read"] as string[] | null,
    grantTypes: ["client_credentials", CIBA_GRANT],
    users: ["auth0|65f0c0ffee0000000000alice"],
    emptyJwks: false,
    interval: 5,
    retryAfter: 10,
    senderConstraining: "none" as "none" | "allowed",
    ...options,
  };
  const key = await createSigningKey();
  const ciba: Auth0CibaRecord[] = [];
  let slowDownNext = false;
  let issuer = "";

  const server = await startFakeServer(async (req, res) => {
    if (req.method === "GET" && req.path === "/.well-known/openid-configuration") return sendJson(res, 200, discovery());
    if (req.method === "GET" && req.path === "/.well-known/jwks.json") return sendJson(res, 200, o.emptyJwks ? { keys: [] } : key.jwks);
    if (req.method === "POST" && req.path === "/oauth/token") return token(req, res);
    if (req.method === "POST" && req.path === "/bc-authorize") return backchannel(req, res);
    return sendJson(res, 404, { error: "not_found", error_description: "Not Found" });
  });
  const origin = server.origin;
  issuer = `${origin}/`;

  function discovery() {
    return {
      issuer,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/oauth/token`,
      jwks_uri: `${origin}/.well-known/jwks.json`,
      backchannel_authentication_endpoint: `${origin}/bc-authorize`,
      backchannel_token_delivery_modes_supported: ["poll"],
      grant_types_supported: ["authorization_code", "client_credentials", "refresh_token", CIBA_GRANT],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
    };
  }

  const unauthorized = (res: http.ServerResponse) => sendJson(res, 401, { error: "access_denied", error_description: "Unauthorized" });

  /** The application's configured method only, as Auth0 enforces it. */
  function clientAuthenticated(req: RecordedRequest): boolean {
    const f = req.form ?? {};
    if (o.authMethod === "client_secret_basic") return req.basic?.id === o.clientId && req.basic.secret === o.clientSecret && f.client_secret === undefined;
    return !req.basic && f.client_id === o.clientId && f.client_secret === o.clientSecret;
  }

  async function token(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    if (!clientAuthenticated(req)) return unauthorized(res);
    if (!o.grantTypes.includes(f.grant_type ?? "")) {
      return sendJson(res, 403, { error: "unauthorized_client", error_description: `Grant type '${f.grant_type}' not allowed for the client.` });
    }
    if (f.grant_type === "client_credentials") return clientCredentials(req, res);
    return cibaGrant(f, res);
  }

  /** A proof on a grant Auth0 sender-constrains, for an API that allows it: the key to bind. */
  async function dpopBinding(req: RecordedRequest): Promise<{ jkt?: string } | { refused: string }> {
    const proof = req.headers.dpop;
    if (!proof || o.senderConstraining === "none") return {};
    const checked = await checkTokenRequestProof(proof, { htm: req.method, htu: `${origin}/oauth/token`, keyTypes: ["EC"], maxAgeSeconds: 60, refuseFutureIat: true });
    return "refused" in checked ? checked : { jkt: checked.jkt };
  }

  async function clientCredentials(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    if (f.audience !== o.api.identifier) return sendJson(res, 403, { error: "access_denied", error_description: `Service not found: ${f.audience}` });
    if (o.clientGrantScopes === null) {
      return sendJson(res, 403, {
        error: "access_denied",
        error_description: `Client is not authorized to access "${f.audience}". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`,
      });
    }
    const requested = f.scope ? f.scope.split(" ") : o.clientGrantScopes;
    const missing = requested.filter((s) => !o.clientGrantScopes!.includes(s));
    if (missing.length) return sendJson(res, 403, { error: "access_denied", error_description: `Client has not been granted scopes: ${missing.join(" ")}` });
    // Auth0 issues the client grant's scopes (the request's `scope` can only narrow them).
    const scope = (f.scope && !o.issueAllGrantScopes ? requested : o.clientGrantScopes).join(" ");
    const binding = await dpopBinding(req);
    if ("refused" in binding) return sendJson(res, 400, { error: "invalid_dpop_proof", error_description: binding.refused });
    const iat = nowSeconds();
    const accessToken = await key.sign({
      iss: issuer,
      sub: `${o.clientId}@clients`,
      aud: o.api.identifier,
      iat,
      exp: iat + 86400,
      scope,
      gty: "client-credentials",
      azp: o.clientId,
      ...(binding.jkt ? { cnf: { jkt: binding.jkt } } : {}),
    });
    return sendJson(res, 200, { access_token: accessToken, scope, expires_in: 86400, token_type: binding.jkt ? "DPoP" : "Bearer" });
  }

  async function cibaGrant(f: Record<string, string>, res: http.ServerResponse) {
    const request = ciba.find((c) => c.authReqId === f.auth_req_id);
    if (!request || request.state === "redeemed") return sendJson(res, 400, { error: "invalid_grant", error_description: "Invalid or expired auth_req_id" });
    const now = Date.now();
    if (request.state === "pending" && now >= request.expiresAt) request.state = "expired";
    const tooFast = now - request.lastPolledAt < o.interval * 1000 - POLL_TOLERANCE_MS;
    request.lastPolledAt = now;
    if (slowDownNext || (tooFast && request.state === "pending")) {
      slowDownNext = false;
      return sendJson(res, 429, { error: "slow_down", error_description: `You are polling faster than allowed. Try again in ${o.retryAfter} seconds.` }, { "retry-after": String(o.retryAfter) });
    }
    if (request.state === "pending") return sendJson(res, 400, { error: "authorization_pending", error_description: "The end-user authorization is pending" });
    if (request.state === "denied" || request.state === "expired") return sendJson(res, 400, { error: "access_denied", error_description: DENIED_OR_EXPIRED });
    request.state = "redeemed";
    const scope = request.form.scope!;
    const iat = nowSeconds();
    const accessToken = await key.sign({
      iss: issuer,
      sub: request.userId,
      aud: [request.form.audience!, `${origin}/userinfo`],
      iat,
      exp: iat + 86400,
      scope,
      azp: o.clientId,
      ...(request.details ? { authorization_details: request.details } : {}),
    });
    const idToken = await key.sign({ iss: issuer, sub: request.userId, aud: o.clientId, iat, exp: iat + 36000 });
    return sendJson(res, 200, {
      access_token: accessToken,
      id_token: idToken,
      scope,
      expires_in: 86400,
      token_type: "Bearer",
      ...(request.details ? { authorization_details: request.details } : {}),
    });
  }

  async function backchannel(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    if (!clientAuthenticated(req)) return unauthorized(res);
    if (!o.grantTypes.includes(CIBA_GRANT)) return sendJson(res, 403, { error: "unauthorized_client", error_description: `Grant type '${CIBA_GRANT}' not allowed for the client.` });
    const bad = (error: string, description: string) => sendJson(res, 400, { error, error_description: description });
    if (!f.scope?.split(" ").includes("openid")) return bad("invalid_request", "scope must contain openid");
    if (!f.login_hint) return bad("invalid_request", "login_hint is required");
    if (!f.binding_message) return bad("invalid_request", "binding_message is required");
    if (!BINDING_MESSAGE.test(f.binding_message)) return bad("invalid_binding_message", "binding_message may only contain up to 64 alphanumeric characters, spaces and +-_.,:#");
    if (f.audience && f.audience !== o.api.identifier) return bad("invalid_request", `Service not found: ${f.audience}`);
    const wanted = f.scope.split(" ").filter((s) => s !== "openid" && s !== "offline_access");
    const unknown = wanted.filter((s) => !o.api.scopes.includes(s));
    if (unknown.length) return bad("invalid_scope", `Scopes not defined on the API: ${unknown.join(" ")}`);
    let expiresIn = 300;
    if (f.requested_expiry !== undefined) {
      if (!/^[1-9]\d*$/.test(f.requested_expiry)) return bad("invalid_request", "requested_expiry must be a positive integer");
      expiresIn = Number(f.requested_expiry);
    }
    let hint: { format?: unknown; iss?: unknown; sub?: unknown };
    try {
      hint = JSON.parse(f.login_hint) as typeof hint;
    } catch {
      return bad("invalid_request", "login_hint must be a JSON object in iss_sub format");
    }
    if (hint.format !== "iss_sub" || hint.iss !== issuer || typeof hint.sub !== "string") return bad("invalid_request", "login_hint must be {\"format\":\"iss_sub\",\"iss\":\"<issuer>\",\"sub\":\"<user id>\"}");
    if (!o.users.includes(hint.sub)) return bad("unknown_user_id", "The user does not exist");
    let details: unknown[] | undefined;
    if (f.authorization_details !== undefined) {
      try {
        details = JSON.parse(f.authorization_details) as unknown[];
      } catch {
        return bad("invalid_authorization_details", "authorization_details must be a JSON array");
      }
      const types = Array.isArray(details) ? details.map((d) => (d as { type?: unknown } | null)?.type) : [];
      if (!Array.isArray(details) || details.length !== 1) return bad("invalid_authorization_details", "Guardian accepts exactly one authorization_details object");
      const unregistered = types.filter((t) => typeof t !== "string" || !o.api.rarTypes.includes(t));
      if (unregistered.length) return bad("invalid_authorization_details", `authorization_details type ${String(unregistered[0])} is not registered on the API`);
    }
    const record: Auth0CibaRecord = { authReqId: randomId(24), form: f, userId: hint.sub, state: "pending", expiresAt: Date.now() + expiresIn * 1000, lastPolledAt: Date.now(), details };
    ciba.push(record);
    return sendJson(res, 200, { auth_req_id: record.authReqId, expires_in: expiresIn, interval: o.interval });
  }

  const pick = (authReqId?: string) => {
    const request = authReqId ? ciba.find((c) => c.authReqId === authReqId) : ciba[ciba.length - 1];
    if (!request) throw new Error("no CIBA request to decide");
    return request;
  };

  return {
    /** https://{domain} of a real tenant; here the loopback origin (AUTH0_DOMAIN). */
    origin,
    issuer,
    jwksUri: `${origin}/.well-known/jwks.json`,
    options: o,
    requests: server.requests,
    ciba,
    requestsTo: (path: string) => server.requests.filter((r) => r.path === path),
    waitForCiba: (count = 1, timeoutMs = 45_000) => waitFor(() => (ciba.length >= count ? ciba[count - 1] : undefined), timeoutMs, `CIBA request #${count}`),
    approve: (authReqId?: string) => void (pick(authReqId).state = "approved"),
    deny: (authReqId?: string) => void (pick(authReqId).state = "denied"),
    /** Lets the request run out now; Auth0 then answers access_denied like a denial. */
    expire: (authReqId?: string) => {
      const request = pick(authReqId);
      request.state = "expired";
      request.expiresAt = Date.now();
    },
    slowDownNext: () => void (slowDownNext = true),
    close: server.close,
  };
}

const POLL_TOLERANCE_MS = 150;
