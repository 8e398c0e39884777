import { createHash, randomUUID } from "node:crypto";
import { createWso2Profile, type Wso2ProfileOptions } from "@/lib/auth/profiles/wso2";
import type http from "node:http";
import { decodeJwt } from "jose";
import { checkTokenRequestProof, createSigningKey, nowSeconds, randomId, sendJson, startFakeServer, waitFor, type RecordedRequest } from "./fake-http";

/**
 * A FAKE of WSO2 Identity Server / Asgardeo, for tests only: it replays the wire formats in
 * /work/shared/PROTOCOLS.md (and the server's source where PROTOCOLS is silent) on a loopback port,
 * records every request, and lets a test approve, deny or expire a CIBA request.
 *
 *   GET  {base}/oauth2/token/.well-known/openid-configuration   issuer {base}/oauth2/token
 *   GET  {base}/oauth2/jwks
 *   POST {base}/oauth2/authorize   app-native (response_mode=direct, Accept: application/json)
 *   POST {base}/oauth2/authn       JSON { flowId, selectedAuthenticator }
 *   POST {base}/oauth2/token       authorization_code (+PKCE) and urn:openid:params:grant-type:ciba
 *   POST {base}/oauth2/ciba        Basic client auth → { auth_req_id, interval: 2, expires_in: 120 }
 *
 * Tokens are RS256 JWTs (a key per run) with WSO2's claim shapes: iss {base}/oauth2/token, aud =
 * the client id, client_id, azp, aut AGENT / APPLICATION_USER, act { sub: agent }, jti, org_*.
 * Error bodies are WSO2's: OAuth `{error, error_description}` on the OAuth endpoints, API-based
 * authentication `{code: "ABA-6000x", message, description, traceId}` on authorize/authn.
 * `base` may carry an organisation path (`/t/carbon.super`).
 *
 * Signing keys: ID tokens and JWT access tokens are signed with the one key published at
 * {base}/oauth2/jwks, the URL WSO2's discovery names as jwks_uri (identity-inbound-auth-oauth,
 * OAuthConstants.java:444 OAUTH2_JWKS_EP_URL = "/oauth2/jwks", built by OAuth2Util.java:1752).
 *
 * DPoP, as WSO2's DPoP connector does it (wso2-extensions/identity-oauth-dpop, component
 * org.wso2.carbon.identity.oauth2.dpop; identity-inbound-auth-oauth for the token):
 * - only an application whose access-token binding type is DPoP is affected
 *   (OauthDPoPInterceptorHandlerProxy.java:70-91); any other type ignores the header and issues
 *   bearer tokens;
 * - for such an application every token request needs a DPoP header: none is `invalid_dpop_proof`
 *   "DPoP header is required." (:75-78), checked before the grant itself (AccessTokenIssuer.java:240
 *   runs the pre-issue listeners before validateGrant at :465);
 * - the proof (DPoPHeaderValidator.java:75-95, 163-342): one header; `iat` present and at most
 *   `header_validity_period` (60 s, DPoPConstants DEFAULT_HEADER_VALIDITY) old, with no check
 *   of iats in the future; `jti` present, not checked for reuse; `htm` and `htu` equal to the
 *   request's method and public URL ignoring case; `jwk` public; `typ` dpop+jwt; the signature
 *   verified for EC and RSA keys only (Utils.java:130-151); failures are `invalid_dpop_proof`
 *   "Invalid DPoP Proof" / "Expired DPoP Proof", as HTTP 400 (OAuth2Service.java:466-477);
 * - a bound token: `token_type: DPoP` (OauthDPoPInterceptorHandlerProxy.java:185-193) and the JWT
 *   access token carries `binding_type`, `binding_ref` = md5(thumbprint) and `cnf: {jkt}`
 *   (JWTTokenIssuer.java:1549-1574; DPoPHeaderValidator.java:178-183, 366-371).
 */
export interface Wso2FakeOptions {
  orgPath?: string;
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  agentId?: string;
  agentSecret?: string;
  /** username (the login_hint) → user id (the `sub` of her tokens). */
  users?: Record<string, string>;
  /** Application → Advanced → App-Native Authentication. */
  appNative?: boolean;
  /** The login flow's first step offers "Username & Password" (else only "Identifier First"). */
  basicAuthenticator?: boolean;
  /** The login flow has a second step (TOTP) after the password. */
  secondStep?: boolean;
  /** Application → Protocol → Allowed grant types → CIBA. */
  cibaGrant?: boolean;
  /** Application → Protocol → Allowed grant types → Code. */
  codeGrant?: boolean;
  /** Scopes the agent's role grants (the token gets requested ∩ these). */
  agentScopes?: string[];
  /** Scopes Alice's role grants. */
  userScopes?: string[];
  /** A misconfigured server: issue the agent token with this scope whatever was requested. */
  agentTokenScope?: string;
  /** The agent identity's owner, sent as `agent_owner` in the agent token. */
  agentOwner?: string;
  /** Serve a key set without keys. */
  emptyJwks?: boolean;
  /** Accept authorization_details at /oauth2/ciba and grant them back (a RAR-enabled server). */
  rar?: boolean;
  notificationChannels?: string[];
  /** Application → Protocol → Access Token → Token binding type. */
  tokenBindingType?: "None" | "DPoP";
  /** CIBA expiry configured on the application (seconds). */
  expiresIn?: number;
  tls?: { key: string; cert: string };
}

type CibaState = "pending" | "approved" | "denied" | "expired" | "redeemed";

export interface Wso2CibaRecord {
  authReqId: string;
  form: Record<string, string>;
  userId: string;
  state: CibaState;
  expiresAt: number;
  lastPolledAt: number;
  /** The pace this request must keep: 2 s, plus 3 s after every slow_down. */
  intervalSeconds: number;
  details?: unknown[];
}

const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
/** WSO2's CibaConstants.INTERVAL_DEFAULT_VALUE_IN_SEC. */
export const WSO2_INTERVAL = 2;
/** What this server adds to a request's interval on slow_down (PROTOCOLS.md). */
const SLOW_DOWN_STEP_SECONDS = 3;
const BASIC_AUTHENTICATOR_ID = Buffer.from("BasicAuthenticator:LOCAL").toString("base64url");
const BASIC_AUTHENTICATOR = {
  authenticatorId: BASIC_AUTHENTICATOR_ID,
  authenticator: "Username & Password",
  idp: "LOCAL",
  metadata: {
    i18nKey: "authenticator.basic",
    promptType: "USER_PROMPT",
    params: [
      { param: "username", type: "STRING", order: 0, i18nKey: "param.username", displayName: "Username", confidential: false },
      { param: "password", type: "STRING", order: 1, i18nKey: "param.password", displayName: "Password", confidential: true },
    ],
  },
  requiredParams: ["username", "password"],
};
const IDENTIFIER_FIRST = { authenticatorId: Buffer.from("IdentifierExecutor:LOCAL").toString("base64url"), authenticator: "Identifier First", idp: "LOCAL", requiredParams: ["username"] };

export type Wso2Fake = Awaited<ReturnType<typeof startWso2Fake>>;

export async function startWso2Fake(options: Wso2FakeOptions = {}) {
  const o = {
    orgPath: "",
    clientId: "wso2-client-id",
    clientSecret: "wso2-client-secret",
    redirectUri: "http://localhost:3000/callback",
    agentId: "8f3c2a61-agent-aurelius",
    agentSecret: "wso2-agent-secret",
    users: { "alice@example.com": "5d4c3b2a-1e0f-4a9b-8c7d-alice" },
    appNative: true,
    basicAuthenticator: true,
    secondStep: false,
    cibaGrant: true,
    codeGrant: true,
    agentScopes: ["stock:read", "stock:trade"],
    userScopes: ["stock:read", "stock:trade"],
    emptyJwks: false,
    rar: false,
    notificationChannels: ["email"],
    tokenBindingType: "None" as "None" | "DPoP",
    expiresIn: 120,
    ...options,
  };
  const key = await createSigningKey();
  const flows = new Map<string, { codeChallenge: string; scope: string; redirectUri: string }>();
  const codes = new Map<string, { codeChallenge: string; scope: string; redirectUri: string; used: boolean }>();
  const ciba: Wso2CibaRecord[] = [];
  const agentTokens = new Set<string>();
  let slowDownNext = false;
  let base = "";
  let issuer = "";

  const server = await startFakeServer(async (req, res) => {
    if (!req.path.startsWith(o.orgPath + "/oauth2/")) return sendJson(res, 404, { error: "not_found" });
    const path = req.path.slice(o.orgPath.length);
    if (req.method === "GET" && path === "/oauth2/token/.well-known/openid-configuration") return sendJson(res, 200, discovery());
    if (req.method === "GET" && path === "/oauth2/jwks") return sendJson(res, 200, o.emptyJwks ? { keys: [] } : key.jwks);
    if (req.method !== "POST") return sendJson(res, 405, { error: "invalid_request" });
    if (path === "/oauth2/authorize") return authorize(req, res);
    if (path === "/oauth2/authn") return authn(req, res);
    if (path === "/oauth2/token") return token(req, res);
    if (path === "/oauth2/ciba") return backchannel(req, res);
    return sendJson(res, 404, { error: "not_found" });
  }, o.tls);
  base = `${server.origin}${o.orgPath}`;
  issuer = `${base}/oauth2/token`;

  function discovery() {
    return {
      issuer,
      authorization_endpoint: `${base}/oauth2/authorize`,
      token_endpoint: `${base}/oauth2/token`,
      jwks_uri: `${base}/oauth2/jwks`,
      backchannel_authentication_endpoint: `${base}/oauth2/ciba`,
      backchannel_token_delivery_modes_supported: ["poll", "ping"],
      grant_types_supported: ["authorization_code", "refresh_token", "client_credentials", CIBA_GRANT, "urn:ietf:params:oauth:grant-type:token-exchange"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
      scopes_supported: ["openid", "profile", "email"],
      response_modes_supported: ["query", "fragment", "form_post", "direct"],
    };
  }

  const abaError = (res: http.ServerResponse, status: number, code: string, message: string, description: string) =>
    sendJson(res, status, { code, message, description, traceId: randomUUID() });

  /** Client authentication: HTTP Basic, or client_id + client_secret in the form. */
  function clientOf(req: RecordedRequest): "ok" | "unknown" | "bad_secret" | "none" {
    const id = req.basic?.id ?? req.form?.client_id;
    const secret = req.basic?.secret ?? req.form?.client_secret;
    if (!id) return "none";
    if (id !== o.clientId) return "unknown";
    return secret === o.clientSecret ? "ok" : "bad_secret";
  }

  function authorize(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    const client = clientOf(req);
    if (client === "unknown" || client === "none") return abaError(res, 400, "ABA-60005", "Unable to find application.", `Unable to find application for clientId ${f.client_id ?? ""} in tenant domain carbon.super`);
    if (client === "bad_secret") return sendJson(res, 401, { error: "invalid_client", error_description: "Client credentials are invalid." });
    if (!o.appNative) return abaError(res, 400, "ABA-60007", "App native authentication is not enabled for the application.", `App native authentication is not enabled for this application with id ${o.clientId}`);
    if (f.response_mode !== "direct" || req.headers.accept !== "application/json") return abaError(res, 400, "ABA-60001", "Invalid authentication request.", "Received authentication request is invalid.");
    if (f.redirect_uri !== o.redirectUri) return sendJson(res, 400, { error: "invalid_request", error_description: "callback.not.match" });
    if (f.response_type !== "code" || f.code_challenge_method !== "S256" || !f.code_challenge) {
      return sendJson(res, 400, { error: "invalid_request", error_description: "PKCE S256 code challenge and response_type=code are required" });
    }
    const flowId = randomUUID();
    flows.set(flowId, { codeChallenge: f.code_challenge, scope: f.scope ?? "", redirectUri: f.redirect_uri });
    return sendJson(res, 200, {
      flowId,
      flowStatus: "INCOMPLETE",
      flowType: "AUTHENTICATION",
      nextStep: {
        stepType: "AUTHENTICATOR_PROMPT",
        authenticators: [o.basicAuthenticator ? BASIC_AUTHENTICATOR : IDENTIFIER_FIRST],
      },
      links: [{ name: "authentication", href: `${base}/oauth2/authn`, method: "POST" }],
    });
  }

  function authn(req: RecordedRequest, res: http.ServerResponse) {
    const body = (req.json ?? {}) as { flowId?: string; selectedAuthenticator?: { authenticatorId?: string; params?: { username?: string; password?: string } } };
    const flow = body.flowId ? flows.get(body.flowId) : undefined;
    if (!flow) return abaError(res, 400, "ABA-60009", "Invalid flow identifier.", "The provided flowId is invalid.");
    const selected = body.selectedAuthenticator;
    if (selected?.authenticatorId !== BASIC_AUTHENTICATOR_ID) return abaError(res, 400, "ABA-60004", "Invalid authenticatorId.", `Provided authenticatorId ${String(selected?.authenticatorId)} is invalid.`);
    if (selected.params?.username !== o.agentId || selected.params?.password !== o.agentSecret) {
      return sendJson(res, 200, {
        flowId: body.flowId,
        flowStatus: "FAIL_INCOMPLETE",
        flowType: "AUTHENTICATION",
        nextStep: {
          stepType: "AUTHENTICATOR_PROMPT",
          authenticators: [{ authenticatorId: BASIC_AUTHENTICATOR_ID, authenticator: "Username & Password", idp: "LOCAL", requiredParams: ["username", "password"] }],
          messages: [{ type: "ERROR", messageId: "msg_invalid_username_password", message: "Login failed! Please check your username and password and try again.", i18nKey: "message.msg_invalid_username_password" }],
        },
      });
    }
    if (o.secondStep) {
      return sendJson(res, 200, {
        flowId: body.flowId,
        flowStatus: "INCOMPLETE",
        flowType: "AUTHENTICATION",
        nextStep: { stepType: "AUTHENTICATOR_PROMPT", authenticators: [{ authenticatorId: Buffer.from("totp:LOCAL").toString("base64url"), authenticator: "TOTP", idp: "LOCAL", requiredParams: ["token"] }] },
        links: [{ name: "authentication", href: `${base}/oauth2/authn`, method: "POST" }],
      });
    }
    flows.delete(body.flowId!);
    const code = randomUUID();
    codes.set(code, { ...flow, used: false });
    return sendJson(res, 200, { flowStatus: "SUCCESS_COMPLETED", authData: { code, session_state: randomId(8) } });
  }

  async function token(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    const client = clientOf(req);
    if (client !== "ok") return sendJson(res, 401, { error: "invalid_client", error_description: "Client Authentication failed." });
    const binding = await dpopBinding(req);
    if ("refused" in binding) return sendJson(res, 400, { error: "invalid_dpop_proof", error_description: binding.refused });
    if (f.grant_type === "authorization_code" && !o.codeGrant) {
      return sendJson(res, 400, { error: "unauthorized_client", error_description: "The authenticated client is not authorized to use this authorization grant type" });
    }
    if (f.grant_type === "authorization_code") return codeGrant(f, res, binding.jkt);
    if (f.grant_type === CIBA_GRANT) return cibaGrant(f, res, binding.jkt);
    return sendJson(res, 400, { error: "unsupported_grant_type", error_description: "Unsupported grant_type value" });
  }

  /** The DPoP connector's pre-issue check: a key thumbprint to bind, none, or a refusal. */
  async function dpopBinding(req: RecordedRequest): Promise<{ jkt?: string } | { refused: string }> {
    if (o.tokenBindingType !== "DPoP") return {};
    const proof = req.headers.dpop;
    if (!proof) return { refused: "DPoP header is required." };
    const checked = await checkTokenRequestProof(proof, { htm: req.method, htu: `${server.origin}${req.path}`, keyTypes: ["EC", "RSA"], maxAgeSeconds: 60, refuseFutureIat: false });
    return "refused" in checked ? checked : { jkt: checked.jkt };
  }

  /** The binding claims of a DPoP-bound JWT access token, and its token_type. */
  function bound(jkt: string | undefined): { claims: Record<string, unknown>; tokenType: "DPoP" | "Bearer" } {
    if (!jkt) return { claims: {}, tokenType: "Bearer" };
    return { claims: { binding_type: "DPoP", binding_ref: createHash("md5").update(jkt).digest("hex"), cnf: { jkt } }, tokenType: "DPoP" };
  }

  async function codeGrant(f: Record<string, string>, res: http.ServerResponse, jkt?: string) {
    const entry = f.code ? codes.get(f.code) : undefined;
    if (!entry || entry.used) return sendJson(res, 400, { error: "invalid_grant", error_description: "Invalid authorization code received from token request" });
    entry.used = true;
    if (f.redirect_uri !== entry.redirectUri) return sendJson(res, 400, { error: "invalid_grant", error_description: "Callback url mismatch" });
    const challenge = createHash("sha256").update(f.code_verifier ?? "").digest("base64url");
    if (challenge !== entry.codeChallenge) return sendJson(res, 400, { error: "invalid_grant", error_description: "PKCE validation failed" });
    const scope = o.agentTokenScope ?? grantedScope(entry.scope, o.agentScopes);
    const binding = bound(jkt);
    const accessToken = await accessTokenFor({ sub: o.agentId, aut: "AGENT", scope, ...(o.agentOwner ? { agent_owner: o.agentOwner } : {}), ...binding.claims });
    agentTokens.add(accessToken);
    return sendJson(res, 200, { access_token: accessToken, scope, id_token: await idToken(o.agentId), token_type: binding.tokenType, expires_in: 3600 });
  }

  async function cibaGrant(f: Record<string, string>, res: http.ServerResponse, jkt?: string) {
    const request = ciba.find((c) => c.authReqId === f.auth_req_id);
    if (!request) return sendJson(res, 400, { error: "invalid_grant", error_description: "Provided auth_req_id is invalid." });
    if (request.state === "redeemed") return sendJson(res, 400, { error: "invalid_request", error_description: "Invalid auth_req_id." });
    const now = Date.now();
    if (request.state === "pending" && now >= request.expiresAt) request.state = "expired";
    const tooFast = now - request.lastPolledAt < request.intervalSeconds * 1000 - POLL_TOLERANCE_MS;
    request.lastPolledAt = now;
    if (slowDownNext || (tooFast && request.state === "pending")) {
      slowDownNext = false;
      request.intervalSeconds += SLOW_DOWN_STEP_SECONDS;
      return sendJson(res, 400, { error: "slow_down", error_description: "You are polling faster than allowed." });
    }
    switch (request.state) {
      case "pending":
        return sendJson(res, 400, { error: "authorization_pending", error_description: "Authorization pending" });
      case "denied":
        return sendJson(res, 400, { error: "access_denied", error_description: "User denied the consent." });
      case "expired":
        return sendJson(res, 400, { error: "expired_token", error_description: "The auth_req_id has expired." });
    }
    request.state = "redeemed";
    const scope = grantedScope(request.form.scope ?? "", o.userScopes);
    const binding = bound(jkt);
    const accessToken = await accessTokenFor({ sub: request.userId, aut: "APPLICATION_USER", act: { sub: o.agentId }, scope, ...(request.details ? { authorization_details: request.details } : {}), ...binding.claims });
    return sendJson(res, 200, {
      access_token: accessToken,
      id_token: await idToken(request.userId),
      token_type: binding.tokenType,
      expires_in: 3600,
      scope,
      ...(request.details ? { authorization_details: request.details } : {}),
    });
  }

  async function backchannel(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    const client = clientOf(req);
    if (client === "none") return sendJson(res, 401, { error: "unauthorized_client", error_description: "Client authentication required" });
    if (client !== "ok") return sendJson(res, 401, { error: "invalid_client", error_description: "Client credentials are invalid." });
    if (!o.cibaGrant) return sendJson(res, 401, { error: "unauthorized_client", error_description: "The client is not authorized to use the CIBA grant type." });
    if (!f.scope || !f.login_hint) return sendJson(res, 400, { error: "invalid_request", error_description: "Missing required parameters." });
    if (!f.scope.split(" ").includes("openid")) return sendJson(res, 400, { error: "invalid_scope", error_description: "Received scope does not contain openid." });
    if (f.binding_message !== undefined && /[<>\u0000-\u001f]/.test(f.binding_message)) return sendJson(res, 400, { error: "invalid_binding_message", error_description: "Invalid binding message." });
    if (f.notification_channel && !o.notificationChannels.includes(f.notification_channel)) {
      return sendJson(res, 400, { error: "invalid_request", error_description: `Notification channel ${f.notification_channel} is not allowed for the application.` });
    }
    const actor = f.actor_token ? validActorToken(f.actor_token) : undefined;
    if (f.actor_token && !actor) return sendJson(res, 400, { error: "invalid_request", error_description: "Invalid actor token." });
    // DefaultCibaUserResolver: the login_hint is the username.
    const userId = o.users[f.login_hint];
    if (!userId) return sendJson(res, 400, { error: "invalid_request", error_description: "User not found for the provided login_hint" });
    // AgentCibaUserValidator: an agent with an owner acts only for that owner.
    const owner = actor?.agent_owner;
    if (typeof owner === "string" && owner.replace(/@[^@]*$/, "") !== userId) {
      return sendJson(res, 400, { error: "invalid_request", error_description: "The CIBA user does not match the owner of the acting agent." });
    }
    let details: unknown[] | undefined;
    if (o.rar && f.authorization_details) {
      try {
        details = JSON.parse(f.authorization_details) as unknown[];
      } catch {
        return sendJson(res, 400, { error: "invalid_authorization_details", error_description: "authorization_details is not valid JSON." });
      }
    }
    const requested = f.requested_expiry ? Number(f.requested_expiry) : 0;
    const expiresIn = requested > 0 && requested <= o.expiresIn ? requested : o.expiresIn;
    const record: Wso2CibaRecord = { authReqId: randomUUID(), form: f, userId, state: "pending", expiresAt: Date.now() + expiresIn * 1000, lastPolledAt: Date.now(), intervalSeconds: WSO2_INTERVAL, details };
    ciba.push(record);
    return sendJson(res, 200, { auth_req_id: record.authReqId, expires_in: expiresIn, interval: WSO2_INTERVAL });
  }

  function validActorToken(token: string): Record<string, unknown> | undefined {
    if (!agentTokens.has(token)) return undefined;
    return decodeJwt(token) as Record<string, unknown>;
  }

  function grantedScope(requested: string, allowed: string[]): string {
    return requested
      .split(" ")
      .filter((s) => s === "openid" || allowed.includes(s))
      .join(" ");
  }

  function accessTokenFor(claims: Record<string, unknown>): Promise<string> {
    const iat = nowSeconds();
    return key.sign(
      { iss: issuer, client_id: o.clientId, aud: o.clientId, azp: o.clientId, nbf: iat, iat, exp: iat + 3600, jti: randomUUID(), org_id: "10084a8d-113f-4211-a0d5-efe36b082211", org_name: "Super", org_handle: "carbon.super", ...claims },
      "at+jwt",
    );
  }

  function idToken(sub: string): Promise<string> {
    const iat = nowSeconds();
    return key.sign({ iss: issuer, sub, aud: o.clientId, azp: o.clientId, iat, exp: iat + 3600, amr: ["BasicAuthenticator"] });
  }

  const pick = (authReqId?: string) => {
    const request = authReqId ? ciba.find((c) => c.authReqId === authReqId) : ciba[ciba.length - 1];
    if (!request) throw new Error("no CIBA request to decide");
    return request;
  };

  return {
    /** The base URL the app is configured with (WSO2_BASE_URL). */
    base,
    issuer,
    jwksUri: `${base}/oauth2/jwks`,
    options: o,
    requests: server.requests,
    ciba,
    /** Requests to one endpoint path (below the base), in order. */
    requestsTo: (path: string) => server.requests.filter((r) => r.path === `${o.orgPath}${path}`),
    waitForCiba: (count = 1, timeoutMs = 45_000) => waitFor(() => (ciba.length >= count ? ciba[count - 1] : undefined), timeoutMs, `CIBA request #${count}`),
    approve: (authReqId?: string) => void (pick(authReqId).state = "approved"),
    deny: (authReqId?: string) => void (pick(authReqId).state = "denied"),
    expire: (authReqId?: string) => void (pick(authReqId).state = "expired"),
    /** The next token poll is answered with slow_down. */
    slowDownNext: () => void (slowDownNext = true),
    close: server.close,
  };
}

/** Timers fire a few ms late, never early; this only forgives scheduling jitter. */
const POLL_TOLERANCE_MS = 150;

/**
 * The app's WSO2 profile pointed at a fake: its client, agent identity and Alice, email
 * notifications, plain fetch. Tests override what they exercise.
 */
export function wso2ProfileFor(fake: Wso2Fake, overrides: Partial<Wso2ProfileOptions> = {}) {
  const loginHint = "alice@example.com";
  return createWso2Profile({
    baseUrl: fake.base,
    clientId: fake.options.clientId,
    clientSecret: fake.options.clientSecret,
    agentId: fake.options.agentId,
    agentSecret: fake.options.agentSecret,
    redirectUri: fake.options.redirectUri,
    loginHint,
    investorUserId: fake.options.users[loginHint]!,
    notificationChannel: "email",
    authorizationDetails: false,
    fetch: (input, init) => fetch(input, init),
    ...overrides,
  });
}
