import type http from "node:http";
import { createHostedLogin } from "./hosted-login";
import { createAuth0Profile, type Auth0ProfileOptions } from "@/lib/auth/profiles/auth0";
import { checkTokenRequestProof, createSigningKey, nowSeconds, randomId, sendJson, startFakeServer, waitFor, type RecordedRequest } from "./fake-http";

/**
 * A FAKE of an Auth0 tenant, for tests only, on a loopback port. It records every request and
 * lets a test approve, deny or expire a CIBA request. Every rule it enforces replays Auth0's
 * documented behaviour and names its source; where Auth0 documents no answer, the comment says
 * so and what the fake answers instead.
 *
 * Sources (line numbers are those of the pages' sources in github.com/auth0/docs-v2, commit
 * 092b879, under main/docs/…):
 *   [BCA]    https://auth0.com/docs/api/authentication/login/start-back-channel-login
 *   [POLL]   https://auth0.com/docs/api/authentication/login/check-back-channel-login-status
 *   [UA]     https://auth0.com/docs/get-started/authentication-and-authorization-flow/client-initiated-backchannel-authentication-flow/user-authorization-with-ciba
 *   [CFG]    https://auth0.com/docs/get-started/applications/configure-client-initiated-backchannel-authentication
 *   [RAR]    https://auth0.com/docs/get-started/apis/configure-rich-authorization-requests
 *   [GRANTS] https://auth0.com/docs/get-started/applications/application-access-to-apis-client-grants
 *   [POLICY] https://auth0.com/docs/get-started/apis/api-access-policies-for-applications
 *   [ATP]    https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
 *   [GAT]    https://auth0.com/docs/secure/tokens/access-tokens/get-access-tokens
 *   [CREDS]  https://auth0.com/docs/get-started/applications/credentials
 *   [GT]     https://auth0.com/docs/get-started/applications/update-grant-types
 *   [DPOP]   https://auth0.com/docs/secure/sender-constraining/demonstrating-proof-of-possession-dpop
 *   [SC]     https://auth0.com/docs/get-started/applications/configure-sender-constraining/configure-resource-server-for-sender-constraining
 *   [JWKS]   https://auth0.com/docs/secure/tokens/json-web-tokens/json-web-key-sets
 *   [AI]     github.com/auth0/auth0-ai-js packages/ai/src/authorizers/async-authorization/AsyncAuthorizerBase.ts
 *            (commit 2adab18), Auth0's own CIBA client
 * The client-credentials refusals are not in Auth0's documentation; their codes and texts are
 * Auth0's real answers as users quoted them in issue threads, each named where it is used.
 *
 * Not documented anywhere, and how the fake chooses:
 * - the error code of a /bc-authorize refusal: an unknown user → `unknown_user_id`, a bad binding
 *   message → `invalid_binding_message` (CIBA Core §13); an unregistered or ungranted
 *   authorization_details type → `invalid_authorization_details` (RFC 9396 §5); a malformed
 *   parameter, or a user no enabled channel can reach → `invalid_request` (CIBA Core §13; [AI]
 *   L87-89 reads invalid_request from /bc-authorize as "the user cannot get push notifications");
 * - the HTTP status of slow_down: 400, the only error status [POLL] lists (L84-89);
 * - how much the slow_down wait grows "if you consistently poll too frequently" ([POLL] L44):
 *   5 s per poll that comes too early again;
 * - that only undecided requests are paced: a poll after the decision is answered at once;
 * - an unknown, foreign or already redeemed auth_req_id → `invalid_grant` (CIBA Core §11; [POLL]
 *   L57 says only that it is "no longer usable");
 * - whether Auth0 refuses an email-routed RAR request when the customized consent prompt is not
 *   set: the fake accepts it, and the test cannot approve it (approve() throws), since nothing
 *   could show Alice the order ([RAR] L262);
 * - the discovery document: Auth0 documents its path, not its fields; the fake serves what OpenID
 *   Connect Discovery and CIBA Core §4 define, never `authorization_details_types_supported`
 *   ([UA] L500: Auth0 does not advertise RAR types), and `dpop_signing_alg_values_supported` only
 *   when the API allows sender constraining.
 * Not modelled: RBAC filtering, Actions other than the scope one below, the RFC 9068 token
 * profile, private_key_jwt and mTLS client authentication, agent-linked clients, refresh tokens
 * (only with offline_access, [UA] L323-325, which the app never asks for).
 */
export interface Auth0FakeOptions {
  /** The dashboard's web application (hosted login, hosted-login.ts). */
  dashboard?: { clientId: string; clientSecret: string; password: string };
  clientId?: string;
  clientSecret?: string;
  /** The application's authentication method, Client Secret (Basic) or (Post) ([CREDS] L22-23). */
  authMethod?: "client_secret_post" | "client_secret_basic";
  /**
   * The API: identifier, permissions (scopes), the authorization_details types registered on it
   * ([RAR] L105-116), and its user-delegated access policy ([POLICY] L24-26: `allow_all` by default).
   */
  api?: { identifier: string; scopes: string[]; rarTypes: string[]; userAccessPolicy?: "allow_all" | "require_client_grant" };
  /** The application's client grant for machine-to-machine access (subject_type client); null: none. */
  clientGrantScopes?: string[] | null;
  /** Its client grant for user-delegated access (subject_type user, [GRANTS] L30-40, L56); null: none. */
  userClientGrant?: { scopes: string[]; authorizationDetailsTypes: string[] } | null;
  /** Scopes an Action adds to the client-credentials token ([GRANTS] L42-44: Actions may change the final scopes). */
  actionAddsScopes?: string[];
  /** Grant types enabled on the application. */
  grantTypes?: string[];
  /** Auth0 user ids that exist. */
  users?: string[];
  /** Users not enrolled in Guardian push ([CFG] L182-188). */
  notEnrolledInPush?: string[];
  /** Users without a verified email address ([CFG] L247-253). */
  unverifiedEmail?: string[];
  /** The application's `async_approval_notification_channels` ([CFG] L97-142). */
  notificationChannels?: ("guardian-push" | "email")[];
  /** Push Notification using Auth0 Guardian enabled on the tenant ([CFG] L164-180). */
  tenantGuardianPush?: boolean;
  /** A customized consent prompt is set ([RAR] L212-262). */
  customizedConsentPrompt?: boolean;
  emptyJwks?: boolean;
  /** The acknowledgement's `interval` ([BCA] L22-34: 5). */
  interval?: number;
  /** The first slow_down wait, seconds ([POLL] L40: "Try again in 10 seconds."). */
  retryAfter?: number;
  /** slow_down names the wait in the body as `interval` ([UA] L204-212) or only in its text and Retry-After ([POLL] L37-44). */
  slowDownInterval?: boolean;
  /** The API's sender-constraining policy (DPoP): "none" (not configured) or "allowed". */
  senderConstraining?: "none" | "allowed";
}

type CibaState = "pending" | "approved" | "denied" | "expired" | "redeemed";
export type NotificationChannel = "guardian-push" | "email";

export interface Auth0CibaRecord {
  authReqId: string;
  form: Record<string, string>;
  clientId: string;
  userId: string;
  channel: NotificationChannel;
  state: CibaState;
  expiresAt: number;
  lastPolledAt: number;
  /** Polls in a row that came before the interval was up. */
  tooFast: number;
  details: unknown[] | undefined;
  /** The scopes the token will carry ([GRANTS] L40: requested ∩ allowed by the client grant). */
  grantedScope: string;
}

const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
/** [UA] L96: "up to 64 characters. Use only alphanumeric and +-_.,:# characters"; L69's example has spaces. */
const BINDING_MESSAGE = /^[A-Za-z0-9 +\-_.,:#]{1,64}$/;
/** [UA] L95: requested_expiry "between 1 and 259200 (72 hours) seconds, and it defaults to 300". */
const MAX_REQUESTED_EXPIRY = 259_200;
const DEFAULT_REQUESTED_EXPIRY = 300;
/** [CFG] L104-105: up to 300 s the push channel, from 301 s the email channel. */
const PUSH_MAX_EXPIRY = 300;
/** [POLL] L31, [UA] L288: a denial and an expiry read alike. */
export const DENIED_OR_EXPIRED = "The end-user denied the authorization request or it has been expired";
/** [POLL] L22, [UA] L195. */
export const PENDING = "The end-user authorization is pending";
/** [POLL] L40; Auth0 may grow the wait, the example says 10. */
export const slowDownDescription = (seconds: number) => `You are polling faster than allowed. Try again in ${seconds} seconds.`;
/** Auth0 sends slow_down for a poll less than the interval after the last one; timers are not exact. */
const POLL_TOLERANCE_MS = 150;
/** The slow_down wait grows by this much per early poll in a row (not documented: the fake's choice). */
const SLOW_DOWN_GROWTH_SECONDS = 5;

export type Auth0Fake = Awaited<ReturnType<typeof startAuth0Fake>>;

export async function startAuth0Fake(options: Auth0FakeOptions = {}) {
  const o = {
    clientId: "Auth0AgentClientId123",
    clientSecret: "auth0-client-secret",
    authMethod: "client_secret_post" as "client_secret_post" | "client_secret_basic",
    api: {
      identifier: "https://broker.example.com/mcp",
      scopes: ["stock:read", "stock:trade"],
      rarTypes: ["urn:auth0:schemas:authorization-details:v1:stock_trade"],
      userAccessPolicy: "allow_all" as "allow_all" | "require_client_grant",
    },
    clientGrantScopes: ["stock:read"] as string[] | null,
    userClientGrant: null as { scopes: string[]; authorizationDetailsTypes: string[] } | null,
    actionAddsScopes: [] as string[],
    grantTypes: ["client_credentials", CIBA_GRANT],
    users: ["auth0|65f0c0ffee0000000000alice"],
    notEnrolledInPush: [] as string[],
    unverifiedEmail: [] as string[],
    notificationChannels: ["guardian-push"] as NotificationChannel[],
    tenantGuardianPush: true,
    customizedConsentPrompt: false,
    emptyJwks: false,
    interval: 5,
    retryAfter: 10,
    slowDownInterval: true,
    senderConstraining: "none" as "none" | "allowed",
    ...options,
  };
  o.api = { userAccessPolicy: "allow_all", ...o.api };
  // [JWKS] L16: ID tokens and access tokens are signed (RS256, Auth0's default) with the key
  // published at https://{domain}/.well-known/jwks.json, "used to verify all Auth0-issued JWTs".
  const key = await createSigningKey();
  const dashboard = o.dashboard ?? { clientId: "auth0-dashboard-client", clientSecret: "auth0-dashboard-secret", password: "alice-test-password-default" };
  let dashboardRedirect = "";
  const hostedLogin = createHostedLogin({
    issuer: () => issuer,
    clientId: dashboard.clientId,
    clientSecret: dashboard.clientSecret,
    redirectUri: () => dashboardRedirect,
    // Auth0's Regular Web Application default: Client Secret (Post).
    authMethod: "client_secret_post",
    user: { sub: o.users[0]!, username: "alice@example.com", password: dashboard.password, name: "Alice", email: "alice@example.com" },
    key,
    loginPath: "/u/login",
  });
  const ciba: Auth0CibaRecord[] = [];
  let slowDownNext = false;
  let issuer = "";

  const server = await startFakeServer(async (req, res) => {
    if (req.method === "GET" && req.path === "/.well-known/openid-configuration") return sendJson(res, 200, discovery());
    if (req.method === "GET" && req.path === "/.well-known/jwks.json") return sendJson(res, 200, o.emptyJwks ? { keys: [] } : key.jwks);
    if (req.method === "GET" && req.path === "/authorize") return hostedLogin.authorize(req, res);
    if (req.method === "POST" && req.path === "/u/login") return hostedLogin.login(req, res);
    if (req.method === "POST" && req.path === "/oauth/token") return token(req, res);
    if (req.method === "POST" && req.path === "/bc-authorize") return backchannel(req, res);
    return sendJson(res, 404, { error: "not_found", error_description: "Not Found" });
  });
  const origin = server.origin;
  // [ATP] L23 and L89: the issuer is the tenant's URL with its trailing slash.
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
      ...(o.senderConstraining === "allowed" ? { dpop_signing_alg_values_supported: ["ES256"] } : {}),
    };
  }

  const bad = (res: http.ServerResponse, error: string, description: string) => sendJson(res, 400, { error, error_description: description });

  // Client authentication failed: 401 access_denied "Unauthorized", as Auth0 answers /oauth/token
  // (quoted in github.com/auth0/node-auth0/issues/582: statusCode 401). /bc-authorize's answer is
  // not documented; the fake answers the same.
  const unauthorized = (res: http.ServerResponse) => sendJson(res, 401, { error: "access_denied", error_description: "Unauthorized" });

  // [GT] L187-190: "Grant type `grant_type` not allowed for the client."; unauthorized_client with
  // HTTP 403 as quoted in github.com/auth0/ruby-auth0/issues/190 and auth0/auth0-java/issues/165.
  const grantNotAllowed = (res: http.ServerResponse, grantType: string | undefined) =>
    sendJson(res, 403, { error: "unauthorized_client", error_description: `Grant type '${grantType}' not allowed for the client.`, error_uri: "https://auth0.com/docs/clients/client-grant-types" });

  // "Client is not authorized to access …": access_denied, HTTP 403, quoted in
  // github.com/auth0/ruby-auth0/issues/610 (body) and auth0/auth0-python/issues/173 (status).
  const noClientGrant = (res: http.ServerResponse, audience: string | undefined) =>
    sendJson(res, 403, {
      error: "access_denied",
      error_description: `Client is not authorized to access "${audience}". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`,
    });

  // "Service not found: <audience>" with access_denied, as Auth0 names an unknown API (quoted from
  // /authorize in github.com/Moesif/moesif-developer-portal/issues/43 and aws-samples/ask-around-me/issues/2;
  // for /oauth/token and /bc-authorize the fake assumes the same text, with HTTP 403).
  const serviceNotFound = (res: http.ServerResponse, audience: string | undefined) => sendJson(res, 403, { error: "access_denied", error_description: `Service not found: ${audience}` });

  /**
   * The application's configured method only ([CREDS] L22-23: Basic sends the secret in the
   * HTTP Basic header, Post in the body). Another method is refused like a wrong secret (not
   * documented: the fake's choice).
   */
  function clientAuthenticated(req: RecordedRequest): boolean {
    const f = req.form ?? {};
    if (o.authMethod === "client_secret_basic") return req.basic?.id === o.clientId && req.basic.secret === o.clientSecret && f.client_secret === undefined;
    return !req.basic && f.client_id === o.clientId && f.client_secret === o.clientSecret;
  }

  async function token(req: RecordedRequest, res: http.ServerResponse) {
    if (hostedLogin.handles(req)) return hostedLogin.exchange(req, res);
    const f = req.form ?? {};
    if (!clientAuthenticated(req)) return unauthorized(res);
    if (!o.grantTypes.includes(f.grant_type ?? "")) return grantNotAllowed(res, f.grant_type);
    if (f.grant_type === "client_credentials") return clientCredentials(req, res);
    return cibaGrant(f, res);
  }

  /**
   * A proof on a grant Auth0 sender-constrains, for an API that allows it: the key to bind.
   * [DPOP] L26-43 lists the grants (client_credentials yes, the CIBA grant no: cibaGrant never
   * looks at a proof). [SC] L39-46: a proof for an API whose policy is none gets a token "Issued,
   * Not Sender-Constrained". [DPOP] L81 documents Elliptic Curve keys such as ES256 and L315 the
   * checks of htm, htu, jti and iat; it names no error code for a bad proof ([DPOP] L484 mentions
   * invalid_dpop_proof), and no iat window: the fake refuses with RFC 9449 §5's
   * `invalid_dpop_proof` and allows 60 s.
   */
  async function dpopBinding(req: RecordedRequest): Promise<{ jkt?: string } | { refused: string }> {
    const proof = req.headers.dpop;
    if (!proof || o.senderConstraining === "none") return {};
    const checked = await checkTokenRequestProof(proof, { htm: req.method, htu: `${origin}/oauth/token`, keyTypes: ["EC"], maxAgeSeconds: 60, refuseFutureIat: true });
    return "refused" in checked ? checked : { jkt: checked.jkt };
  }

  async function clientCredentials(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    if (f.audience !== o.api.identifier) return serviceNotFound(res, f.audience);
    // [POLICY] L25: client access is per-app authorization by default: no client grant, no token.
    if (o.clientGrantScopes === null) return noClientGrant(res, f.audience);
    // [POLICY] L30: with per-app authorization the scopes are named in the request; one the grant
    // lacks is refused with access_denied "Client has not been granted scopes: …" (quoted in
    // github.com/auth0/docs/issues/5466; its status is not quoted: the fake answers 403).
    const requested = f.scope ? f.scope.split(" ") : o.clientGrantScopes;
    const missing = requested.filter((s) => !o.clientGrantScopes!.includes(s));
    if (missing.length) return sendJson(res, 403, { error: "access_denied", error_description: `Client has not been granted scopes: ${missing.join(" ")}` });
    // [GRANTS] L39: the token carries the permissions of the client grant the request names;
    // L42-44: an Action may change the final scopes.
    const scope = [...new Set([...requested, ...o.actionAddsScopes])].join(" ");
    const binding = await dpopBinding(req);
    if ("refused" in binding) return bad(res, "invalid_dpop_proof", binding.refused);
    const iat = nowSeconds();
    // [ATP] L89-98 (Auth0 token profile): sub `<client_id>@clients`, azp, gty client-credentials,
    // no jti, no client_id; [DPOP] L316-317: a bound token has `cnf` and token_type DPoP.
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
    // [POLL] L57: an exchanged auth_req_id "is no longer usable" (code not documented: invalid_grant).
    const request = ciba.find((c) => c.authReqId === f.auth_req_id && c.clientId === o.clientId);
    if (!request || request.state === "redeemed") return bad(res, "invalid_grant", "Invalid or expired auth_req_id");
    const now = Date.now();
    if (request.state === "pending" && now >= request.expiresAt) request.state = "expired";
    const early = now - request.lastPolledAt < o.interval * 1000 - POLL_TOLERANCE_MS;
    request.lastPolledAt = now;
    if (slowDownNext || (early && request.state === "pending")) {
      slowDownNext = false;
      request.tooFast += 1;
      return slowDown(res, o.retryAfter + SLOW_DOWN_GROWTH_SECONDS * (request.tooFast - 1));
    }
    request.tooFast = 0;
    // [POLL] L17-23, [UA] L190-197.
    if (request.state === "pending") return bad(res, "authorization_pending", PENDING);
    // [POLL] L26-32, [UA] L283-290: a denial and an expiry are both access_denied.
    if (request.state === "denied" || request.state === "expired") return bad(res, "access_denied", DENIED_OR_EXPIRED);
    request.state = "redeemed";
    return sendJson(res, 200, await issueOnBehalfOf(request));
  }

  /**
   * [POLL] L35-44: slow_down when polling faster than the interval, with Retry-After; the wait
   * grows when the client keeps polling too fast. [UA] L204-212 (also the email and push pages)
   * shows the wait as `interval` in the body as well; [POLL] shows a body without it.
   */
  function slowDown(res: http.ServerResponse, seconds: number) {
    const body = { error: "slow_down", error_description: slowDownDescription(seconds), ...(o.slowDownInterval ? { interval: seconds } : {}) };
    return sendJson(res, 400, body, { "retry-after": String(seconds) });
  }

  /**
   * [UA] L297-317 and L469-488: the approved request's token response carries the granted
   * authorization_details (the requested ones, [UA] L501: Auth0 checks only their type), token_type
   * Bearer, expires_in 86400; [POLL] L46-55: an ID token too. The access token in the Auth0 profile
   * ([ATP] L21-34, L89-102): sub = the user, azp = the client, aud = the API and /userinfo when the
   * scope has openid ([GAT] L206), the authorization_details claim; no act, no jti, no gty (only
   * for client-credentials, password and refresh_token, [ATP] L98).
   */
  async function issueOnBehalfOf(request: Auth0CibaRecord) {
    const iat = nowSeconds();
    const scope = request.grantedScope;
    // Without an audience the token is for /userinfo alone ([GAT] L198; Auth0 makes it opaque, the fake a JWT).
    const api = request.form.audience;
    const accessToken = await key.sign({
      iss: issuer,
      sub: request.userId,
      aud: api === undefined ? `${origin}/userinfo` : scope.split(" ").includes("openid") ? [api, `${origin}/userinfo`] : api,
      iat,
      exp: iat + 86400,
      scope,
      azp: o.clientId,
      ...(request.details ? { authorization_details: request.details } : {}),
    });
    const idToken = await key.sign({ iss: issuer, sub: request.userId, aud: o.clientId, iat, exp: iat + 36000 });
    return { access_token: accessToken, id_token: idToken, scope, expires_in: 86400, token_type: "Bearer", ...(request.details ? { authorization_details: request.details } : {}) };
  }

  /** The channel that reaches the user, or why none does ([CFG] L103-105, L185, L250; [UA] L95). */
  function channelFor(userId: string, expirySeconds: number): NotificationChannel | string {
    const push = o.notificationChannels.includes("guardian-push") && o.tenantGuardianPush && !o.notEnrolledInPush.includes(userId);
    const email = o.notificationChannels.includes("email") && !o.unverifiedEmail.includes(userId);
    // Push only up to 300 s; a user not enrolled in push falls back to email when it is configured.
    if (expirySeconds <= PUSH_MAX_EXPIRY && push) return "guardian-push";
    if (email) return "email";
    if (expirySeconds > PUSH_MAX_EXPIRY) return "requested_expiry over 300 s needs the email channel, and the user's verified email address";
    return "the user cannot be notified: no enabled channel reaches them (Guardian push enrolment, or email with a verified address)";
  }

  async function backchannel(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    // [BCA] L46: Client Secret (Basic or Post), Private Key JWT or mTLS.
    if (!clientAuthenticated(req)) return unauthorized(res);
    // [CFG] L24-45: the CIBA grant is enabled per application.
    if (!o.grantTypes.includes(CIBA_GRANT)) return grantNotAllowed(res, CIBA_GRANT);
    // [BCA] L61-63, [UA] L93: scope must include openid.
    if (!f.scope?.split(" ").includes("openid")) return bad(res, "invalid_request", "scope must include openid");
    // [BCA] L53-55, [UA] L96: binding_message is required, up to 64 characters of a small set.
    if (!f.binding_message) return bad(res, "invalid_request", "binding_message is required");
    if (!BINDING_MESSAGE.test(f.binding_message)) return bad(res, "invalid_binding_message", "binding_message must be up to 64 alphanumeric, space or +-_.,:# characters");
    // [BCA] L57-59 and L40-44: login_hint is a JSON object in the iss_sub format, iss the tenant's URL.
    if (!f.login_hint) return bad(res, "invalid_request", "login_hint is required");
    let hint: { format?: unknown; iss?: unknown; sub?: unknown };
    try {
      hint = JSON.parse(f.login_hint) as typeof hint;
    } catch {
      return bad(res, "invalid_request", "login_hint must be a JSON object in the iss_sub format");
    }
    if (hint === null || typeof hint !== "object" || hint.format !== "iss_sub" || hint.iss !== issuer || typeof hint.sub !== "string") {
      return bad(res, "invalid_request", 'login_hint must be {"format":"iss_sub","iss":"<issuer>","sub":"<user id>"}');
    }
    // [BCA] L65-67: audience, the identifier of an API of the tenant.
    if (f.audience !== undefined && f.audience !== o.api.identifier) return serviceNotFound(res, f.audience);
    // [POLICY] L25, [GRANTS] L18: with per-app authorization for user-delegated access, only an
    // application with a client grant (subject_type user) gets a token for the API.
    const userGrant = o.api.userAccessPolicy === "require_client_grant" ? o.userClientGrant : undefined;
    if (userGrant === null) return noClientGrant(res, f.audience);
    // [UA] L95: 1 to 259200 seconds, 300 by default.
    let expiresIn = DEFAULT_REQUESTED_EXPIRY;
    if (f.requested_expiry !== undefined) {
      if (!/^[1-9]\d{0,5}$/.test(f.requested_expiry) || Number(f.requested_expiry) > MAX_REQUESTED_EXPIRY) {
        return bad(res, "invalid_request", `requested_expiry must be between 1 and ${MAX_REQUESTED_EXPIRY} seconds`);
      }
      expiresIn = Number(f.requested_expiry);
    }
    if (!o.users.includes(hint.sub)) return bad(res, "unknown_user_id", "The user does not exist");
    const details = authorizationDetails(f.authorization_details, userGrant);
    if (typeof details === "string") return bad(res, "invalid_authorization_details", details);
    const channel = channelFor(hint.sub, expiresIn);
    if (channel !== "guardian-push" && channel !== "email") return bad(res, "invalid_request", channel);
    const now = Date.now();
    const record: Auth0CibaRecord = {
      authReqId: randomId(24),
      form: f,
      clientId: o.clientId,
      userId: hint.sub,
      channel,
      state: "pending",
      expiresAt: now + expiresIn * 1000,
      lastPolledAt: now,
      tooFast: 0,
      details,
      grantedScope: grantedScope(f.scope, f.audience, userGrant),
    };
    ciba.push(record);
    // [BCA] L22-34, [UA] L104-110: auth_req_id, expires_in (the seconds left), interval.
    return sendJson(res, 200, { auth_req_id: record.authReqId, expires_in: expiresIn, interval: o.interval });
  }

  /**
   * [BCA] L77-79, [UA] L98: a JSON array of objects whose `type` is registered on the API; [UA]
   * L501: Auth0 validates nothing beyond that type (the Guardian app's one-object schema, [RAR]
   * L30, and the size limits of L74-84 are what the consent screens can render, not refusals the
   * documentation names). [RAR] L204-208, [GRANTS] L56: under require_client_grant each type must
   * be allowed by the client grant too.
   */
  function authorizationDetails(raw: string | undefined, userGrant: { authorizationDetailsTypes: string[] } | undefined): unknown[] | undefined | string {
    if (raw === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return "authorization_details must be a JSON array";
    }
    if (!Array.isArray(parsed) || parsed.some((d) => d === null || typeof d !== "object" || Array.isArray(d))) return "authorization_details must be an array of objects";
    for (const entry of parsed as { type?: unknown }[]) {
      if (typeof entry.type !== "string" || !o.api.rarTypes.includes(entry.type)) return `authorization_details type ${String(entry.type)} is not registered on the API`;
      if (userGrant && !userGrant.authorizationDetailsTypes.includes(entry.type)) return `authorization_details type ${entry.type} is not allowed by the client grant`;
    }
    return parsed;
  }

  /** [GRANTS] L40: the requested scopes the API defines and, under require_client_grant, the grant allows. */
  function grantedScope(requested: string, audience: string | undefined, userGrant: { scopes: string[] } | undefined): string {
    if (audience === undefined) return "openid";
    return requested
      .split(" ")
      .filter((s) => s === "openid" || (o.api.scopes.includes(s) && (!userGrant || userGrant.scopes.includes(s))))
      .join(" ");
  }

  const pick = (authReqId?: string) => {
    const request = authReqId ? ciba.find((c) => c.authReqId === authReqId) : ciba[ciba.length - 1];
    if (!request) throw new Error("no CIBA request to decide");
    return request;
  };

  return {
    /** The dashboard's web application: its credentials, and the app's callback to register once the app has its URL. */
    dashboard: { clientId: dashboard.clientId, clientSecret: dashboard.clientSecret },
    registerDashboardCallback: (uri: string) => {
      dashboardRedirect = uri;
    },
    /** https://{domain} of a real tenant; here the loopback origin (AUTH0_DOMAIN). */
    origin,
    issuer,
    jwksUri: `${origin}/.well-known/jwks.json`,
    options: o,
    requests: server.requests,
    ciba,
    requestsTo: (path: string) => server.requests.filter((r) => r.path === path),
    waitForCiba: (count = 1, timeoutMs = 45_000) => waitFor(() => (ciba.length >= count ? ciba[count - 1] : undefined), timeoutMs, `CIBA request #${count}`),
    /**
     * Alice approves. An email-routed request with authorization_details needs the customized
     * consent prompt to show her the order ([RAR] L262, [UA] L18 and L53): without it there is
     * nothing she could approve.
     */
    approve: (authReqId?: string) => {
      const request = pick(authReqId);
      if (request.channel === "email" && request.details && !o.customizedConsentPrompt) {
        throw new Error("an email approval of authorization_details needs the customized consent prompt");
      }
      request.state = "approved";
    },
    deny: (authReqId?: string) => void (pick(authReqId).state = "denied"),
    /** Lets the request run out now; Auth0 then answers access_denied like a denial. */
    expire: (authReqId?: string) => {
      const request = pick(authReqId);
      request.state = "expired";
      request.expiresAt = Date.now();
    },
    /** Test control: the next CIBA poll is answered slow_down whatever its pace. */
    slowDownNext: () => void (slowDownNext = true),
    close: server.close,
  };
}

/** The app's Auth0 profile pointed at this fake as the configuration would point it; `overrides` change single options. */
export function auth0ProfileFor(fake: Auth0Fake, overrides: Partial<Auth0ProfileOptions> = {}) {
  return createAuth0Profile({
    origin: fake.origin,
    clientId: fake.options.clientId,
    clientSecret: fake.options.clientSecret,
    clientAuth: "client_secret_post",
    audience: fake.options.api.identifier,
    userId: fake.options.users[0]!,
    rarType: "stock_trade",
    fetch: (input, init) => fetch(input, init),
    ...overrides,
  });
}
