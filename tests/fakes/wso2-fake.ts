import { createHostedLogin } from "./hosted-login";
import { createHash, randomUUID } from "node:crypto";
import type http from "node:http";
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTPayload } from "jose";
import { createWso2Profile, type Wso2ProfileOptions } from "@/lib/auth/profiles/wso2";
import { checkTokenRequestProof, createSigningKey, nowSeconds, randomId, sendJson, startFakeServer, waitFor, type RecordedRequest } from "./fake-http";

/**
 * A FAKE of WSO2 Identity Server / Asgardeo, for tests only. Every rule it enforces replays the
 * code path of WSO2's own source, cited beside the rule as file:line, in
 *
 *   wso2-extensions/identity-inbound-auth-oauth at c4c32bb3f8edde5dc54b7d713acdd71a232e8f62
 *
 * (paths shortened to the class name; all under components/). Where a value comes from another
 * repository the comment says so: AuthServiceConstants and IdentityException are in
 * wso2/carbon-identity-framework, the DPoP connector in wso2-extensions/identity-oauth-dpop.
 * What the source leaves to configuration is an option below; what the tests steer (Alice's
 * decision) is a method of the returned object, not a rule.
 *
 *   GET  {base}/oauth2/token/.well-known/openid-configuration   (also …/oidcdiscovery/…)
 *   GET  {base}/oauth2/jwks
 *   POST {base}/oauth2/authorize   app-native authentication (response_mode=direct)
 *   POST {base}/oauth2/authn       JSON { flowId, selectedAuthenticator }
 *   POST {base}/oauth2/token       authorization_code (+PKCE) and urn:openid:params:grant-type:ciba
 *   POST {base}/oauth2/ciba        client auth → { auth_req_id, expires_in, interval: 2 }
 *
 * The issuer is computed the way OAuth2Util.getIdTokenIssuer does (OAuth2Util.java:5195-5205 with
 * tenant-qualified URLs: the server's public URL + /oauth2/token, built by ServiceURLBuilder, which
 * leaves out /t/carbon.super for the super tenant): it is what discovery names (ProviderConfigBuilder
 * .java:61-63, on by default DiscoveryUtil.java:36-44), what JWT access tokens carry
 * (JWTTokenIssuer.java:883,896), what ID tokens carry (DefaultIDTokenBuilder.java:146,224) and what
 * an actor_token must carry (ActorTokenValidator.java:88-92). So `hostName` (the configured public
 * origin) and a `/t/carbon.super` base give an issuer that is not `{base}/oauth2/token`.
 *
 * Tokens are RS256 JWTs signed with one key published at {base}/oauth2/jwks (OAuthConstants.java:444).
 */
export interface Wso2FakeOptions {
  /** Tenant or organisation path of the base URL: "", "/t/carbon.super", "/t/acme", "/o/<org>". */
  orgPath?: string;
  /** The server's configured public origin (deployment.toml hostname, a proxy); default: its own. */
  hostName?: string;
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  agentId?: string;
  agentSecret?: string;
  /** username (a login_hint) → user id (the `sub` of her tokens). */
  users?: Record<string, string>;
  /** The dashboard's web application (hosted login, hosted-login.ts); its callback is set by dashboardCallback(). */
  dashboard?: { clientId: string; clientSecret: string; password: string };
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
  /** Serve a key set without keys. */
  emptyJwks?: boolean;
  /** CIBA → Allowed notification delivery methods (empty: none configured, any is accepted). */
  notificationChannels?: string[];
  /** Application → Protocol → Access Token → Token binding type. */
  tokenBindingType?: "None" | "DPoP";
  /** Application → Protocol → Access Token → Token type: JWT, or Default (opaque). */
  accessTokenType?: "JWT" | "Default";
  /** enableJwtScopeAsArray (application or tenant): `scope` is a JSON array in JWT access tokens. */
  scopeAsArray?: boolean;
  /** CIBA expiry configured on the application (seconds). */
  expiresIn?: number;
  tls?: { key: string; cert: string };
}

/** AuthReqStatus.java:24-32. */
type AuthReqStatus = "REQUESTED" | "AUTHENTICATED" | "TOKEN_ISSUED" | "EXPIRED" | "FAILED" | "CONSENT_DENIED";

export interface Wso2CibaRecord {
  authReqId: string;
  clientId: string;
  form: Record<string, string>;
  /** The user the login_hint resolved to. */
  userId: string;
  /** The actor_token's `sub`, when one was sent. */
  requestedActor?: string;
  status: AuthReqStatus;
  issuedAt: number;
  expiresIn: number;
  lastPolledAt: number;
  /** The pace this request must keep: 2 s, plus 3 s after every slow_down. */
  intervalSeconds: number;
}

const CIBA_GRANT = "urn:openid:params:grant-type:ciba";
/** CibaConstants.java:29 INTERVAL_DEFAULT_VALUE_IN_SEC. */
export const WSO2_INTERVAL = 2;
/** CibaConstants.java:27 INTERVAL_INCREMENT_VALUE_IN_SEC. */
const INTERVAL_INCREMENT_SECONDS = 3;
/** CibaConstants.java:28,30: without an application expiry, 3600 s is both the default and the cap. */
const DEFAULT_EXPIRY_SECONDS = 3600;
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

/** ERROR_INVALID_AUTH_REQUEST of carbon-identity-framework AuthServiceConstants (code ABA- + 60001). */
const ABA_INVALID_AUTH_REQUEST = { code: "ABA-60001", message: "Invalid authentication request." };

export type Wso2Fake = Awaited<ReturnType<typeof startWso2Fake>>;

export async function startWso2Fake(options: Wso2FakeOptions = {}) {
  const o = {
    orgPath: "",
    clientId: "wso2-client-id",
    clientSecret: "wso2-client-secret",
    redirectUri: "http://localhost:3000/callback",
    agentId: "8f3c2a61-agent-aurelius",
    agentSecret: "wso2-agent-secret",
    users: { "alice@example.com": "5d4c3b2a-1e0f-4a9b-8c7d-alice" } as Record<string, string>,
    appNative: true,
    basicAuthenticator: true,
    secondStep: false,
    cibaGrant: true,
    codeGrant: true,
    agentScopes: ["stock:read", "stock:trade"],
    userScopes: ["stock:read", "stock:trade"],
    emptyJwks: false,
    notificationChannels: ["email"],
    tokenBindingType: "None" as "None" | "DPoP",
    accessTokenType: "JWT" as "JWT" | "Default",
    scopeAsArray: false,
    expiresIn: 120,
    ...options,
  };
  const key = await createSigningKey();
  const dashboard = o.dashboard ?? { clientId: "wso2-dashboard-client", clientSecret: "wso2-dashboard-secret", password: "alice-test-password-default" };
  let dashboardRedirect = "";
  // The hosted login signs in the first known user (a tenant without users signs in nobody).
  const [aliceEmail, aliceId] = Object.entries(o.users)[0] ?? ["nobody@example.com", "nobody"];
  const hostedLogin = createHostedLogin({
    issuer: () => issuer,
    clientId: dashboard.clientId,
    clientSecret: dashboard.clientSecret,
    redirectUri: () => dashboardRedirect,
    authMethod: "client_secret_basic",
    user: { sub: aliceId, username: aliceEmail, password: dashboard.password, name: "Alice", email: aliceEmail },
    key,
    loginPath: `${o.orgPath}/commonauth`,
  });
  const flows = new Map<string, { codeChallenge: string; scope: string; redirectUri: string }>();
  const codes = new Map<string, { codeChallenge: string; scope: string; redirectUri: string; used: boolean }>();
  const ciba: Wso2CibaRecord[] = [];

  const server = await startFakeServer(async (req, res) => {
    // The super tenant is also served without its /t/carbon.super path, which is how its public
    // URLs (discovery, publicBase below) name its endpoints.
    if (o.orgPath === "/t/carbon.super" && !req.path.startsWith(o.orgPath)) req.path = `${o.orgPath}${req.path}`;
    // The browser sign-in: the login form posts to /commonauth, as WSO2's login page does.
    if (req.method === "POST" && req.path === `${o.orgPath}/commonauth`) return hostedLogin.login(req, res);
    if (!req.path.startsWith(o.orgPath + "/oauth2/")) return sendJson(res, 404, { error: "not_found" });
    const path = req.path.slice(o.orgPath.length);
    if (req.method === "GET" && path === "/oauth2/authorize") return hostedLogin.authorize(req, res);
    const discoveryPath = /^\/oauth2\/([^/]+)\/\.well-known\/openid-configuration$/.exec(path);
    if (req.method === "GET" && discoveryPath) return discovery(discoveryPath[1]!, res);
    if (req.method === "GET" && path === "/oauth2/jwks") return sendJson(res, 200, o.emptyJwks ? { keys: [] } : key.jwks);
    if (req.method !== "POST") return sendJson(res, 405, { error: "invalid_request" });
    if (path === "/oauth2/authorize") return authorize(req, res);
    if (path === "/oauth2/authn") return authn(req, res);
    if (path === "/oauth2/token") return token(req, res);
    if (path === "/oauth2/ciba") return backchannel(req, res);
    return sendJson(res, 404, { error: "not_found" });
  }, o.tls);
  const base = `${server.origin}${o.orgPath}`;
  // OAuth2Util.getIdTokenIssuer (see the header): the public origin, the tenant path except the
  // super tenant's, /oauth2/token.
  const publicBase = `${o.hostName ?? server.origin}${o.orgPath === "/t/carbon.super" ? "" : o.orgPath}`;
  const issuer = `${publicBase}/oauth2/token`;
  /** EndpointUtil.java:1322-1325 getRealmInfo: "Basic realm=" + the configured host name. */
  const realm = `Basic realm=${new URL(publicBase).hostname}`;

  /**
   * OIDCDiscoveryEndpoint.java:45,81-94: served at {base}/oauth2/{token|oidcdiscovery}/.well-known/
   * openid-configuration; another path component is 400 with a plain-text body (:66-78). Every URL
   * in it is the server's public one (ProviderConfigBuilder.java:61-151).
   */
  function discovery(component: string, res: http.ServerResponse) {
    if (component !== "token" && component !== "oidcdiscovery") {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`Invalid path to the discovery document. Received path : ${component} is not resolvable`);
      return;
    }
    return sendJson(res, 200, {
      issuer,
      authorization_endpoint: `${publicBase}/oauth2/authorize`,
      token_endpoint: `${publicBase}/oauth2/token`,
      jwks_uri: `${publicBase}/oauth2/jwks`,
      backchannel_authentication_endpoint: `${publicBase}/oauth2/ciba`,
      backchannel_token_delivery_modes_supported: ["poll", "ping"],
      grant_types_supported: ["authorization_code", "refresh_token", "client_credentials", CIBA_GRANT, "urn:ietf:params:oauth:grant-type:token-exchange"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
      id_token_signing_alg_values_supported: ["RS256"],
      scopes_supported: ["openid", "profile", "email"],
      response_modes_supported: ["query", "fragment", "form_post", "direct"],
    });
  }

  /**
   * OAuthClientAuthnService: no client id → "Client ID not found in the request." (:163-167); an
   * unknown client → "Client credentials are invalid." (:189-194); a wrong secret → the same
   * (:264-275). All invalid_client.
   */
  function authenticateClient(req: RecordedRequest): { ok: true; clientId: string } | { ok: false; description: string } {
    const id = req.basic?.id ?? req.form?.client_id;
    const secret = req.basic?.secret ?? req.form?.client_secret;
    if (!id) return { ok: false, description: "Client ID not found in the request." };
    if (id !== o.clientId || secret !== o.clientSecret) return { ok: false, description: "Client credentials are invalid." };
    return { ok: true, clientId: id };
  }

  /** ApiAuthnUtils.java:84-120: API-based authentication client errors are HTTP 400 `{code, message, description, traceId}`. */
  const abaError = (res: http.ServerResponse, code: string, message: string, description: string) => sendJson(res, 400, { code, message, description, traceId: randomUUID() });

  function authorize(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    // Only response_mode=direct is app-native (OAuth2Util.java:6701-6705, OAuth2AuthzEndpoint
    // .java:101-116); anything else is the browser flow, which redirects to the login page.
    if (f.response_mode !== "direct") {
      res.writeHead(302, { location: `${publicBase}/authenticationendpoint/login.do` });
      res.end();
      return;
    }
    // OAuth2AuthzEndpoint.java:102-106 → AuthzUtil.java:5295-5302 → ApiAuthnUtils.java:182-202:
    // HTTP 401 {code:"401", message:"Unauthorized", description: the client authentication error}.
    const client = authenticateClient(req);
    if (!client.ok) return sendJson(res, 401, { code: "401", message: "Unauthorized", description: client.description, traceId: randomUUID() }, { "www-authenticate": realm });
    // OAuth2AuthzEndpoint.java:113-115 → AuthzUtil.java:5310-5315.
    if (f.response_type !== "code") return abaError(res, ABA_INVALID_AUTH_REQUEST.code, ABA_INVALID_AUTH_REQUEST.message, "App native authentication is only supported with code response type.");
    // A redirect_uri the application does not list: AbstractResponseTypeRequestValidator.java:
    // 296-315 (invalid_callback, callback.not.match) → AuthzUtil.java:2487-2492 (error page,
    // EndpointUtil.java:398-409) → AuthzUtil.java:5143-5171 and 5248-5260 ("<code> - <message>").
    if (f.redirect_uri !== o.redirectUri) return abaError(res, ABA_INVALID_AUTH_REQUEST.code, ABA_INVALID_AUTH_REQUEST.message, "invalid_callback - callback.not.match");
    // ERROR_API_BASED_AUTH_NOT_ENABLED (carbon-identity-framework AuthServiceConstants); raised by
    // the authentication framework, not in this repository.
    if (!o.appNative) return abaError(res, "ABA-60007", "App native authentication is not enabled for the application.", `App native authentication is not enabled for this application with id ${o.clientId}`);
    const flowId = randomUUID();
    flows.set(flowId, { codeChallenge: f.code_challenge ?? "", scope: f.scope ?? "", redirectUri: f.redirect_uri });
    // AuthzUtil.java:5104-5129: the framework's INCOMPLETE step as JSON.
    return sendJson(res, 200, {
      flowId,
      flowStatus: "INCOMPLETE",
      flowType: "AUTHENTICATION",
      nextStep: { stepType: "AUTHENTICATOR_PROMPT", authenticators: [o.basicAuthenticator ? BASIC_AUTHENTICATOR : IDENTIFIER_FIRST] },
      links: [{ name: "authentication", href: `${publicBase}/oauth2/authn`, method: "POST" }],
    });
  }

  /**
   * ApiAuthnEndpoint.java:61-81: the framework's flow status as JSON; its client errors as
   * ApiAuthnUtils 400s with the AuthServiceConstants codes (ABA-60009 invalid flow id, ABA-60004
   * invalid authenticator). The wording of a failed password comes from the framework.
   */
  function authn(req: RecordedRequest, res: http.ServerResponse) {
    const body = (req.json ?? {}) as { flowId?: string; selectedAuthenticator?: { authenticatorId?: string; params?: { username?: string; password?: string } } };
    const flow = body.flowId ? flows.get(body.flowId) : undefined;
    if (!flow) return abaError(res, "ABA-60009", "Invalid flow identifier.", "The provided flowId is invalid.");
    const selected = body.selectedAuthenticator;
    if (selected?.authenticatorId !== BASIC_AUTHENTICATOR_ID) return abaError(res, "ABA-60004", "Invalid authenticatorId.", `Provided authenticatorId ${String(selected?.authenticatorId)} is invalid.`);
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
        links: [{ name: "authentication", href: `${publicBase}/oauth2/authn`, method: "POST" }],
      });
    }
    flows.delete(body.flowId!);
    const code = randomUUID();
    codes.set(code, { ...flow, used: false });
    return sendJson(res, 200, { flowStatus: "SUCCESS_COMPLETED", authData: { code, session_state: randomId(8) } });
  }

  /** A token error as OAuth2TokenEndpoint.java:345-373 sends it: 400 with `{error, error_description}`. */
  const tokenError = (res: http.ServerResponse, error: string, description: string) => sendJson(res, 400, { error, error_description: description });

  async function token(req: RecordedRequest, res: http.ServerResponse) {
    if (hostedLogin.handles(req)) return hostedLogin.exchange(req, res);
    const f = req.form ?? {};
    // OAuth2TokenEndpoint.java:191-193, 376-387: invalid_client is 401 with WWW-Authenticate.
    const client = authenticateClient(req);
    if (!client.ok) return sendJson(res, 401, { error: "invalid_client", error_description: client.description }, { "www-authenticate": realm });
    // The DPoP connector's pre-issue listener runs first (AccessTokenIssuer.java:240).
    const binding = await dpopBinding(req);
    if ("refused" in binding) return tokenError(res, "invalid_dpop_proof", binding.refused);
    // AccessTokenIssuer.java:284-299: no handler for the grant type.
    if (f.grant_type !== "authorization_code" && f.grant_type !== CIBA_GRANT) return tokenError(res, "unsupported_grant_type", `Unsupported grant type : ${f.grant_type}, is used.`);
    // AccessTokenIssuer.java:369-407 with AbstractAuthorizationGrantHandler.java:270-295: the
    // grant must be one of the application's allowed grant types.
    if (!(f.grant_type === CIBA_GRANT ? o.cibaGrant : o.codeGrant)) return tokenError(res, "unauthorized_client", "The authenticated client is not authorized to use this authorization grant type");
    if (f.grant_type === "authorization_code") return codeGrant(f, res, binding.jkt);
    return cibaGrant(client.clientId, f, res, binding.jkt);
  }

  /**
   * The DPoP connector (wso2-extensions/identity-oauth-dpop), for an application whose token
   * binding type is DPoP (OauthDPoPInterceptorHandlerProxy.java:70-91; any other type ignores the
   * header): a proof is required ("DPoP header is required.", :75-78) and checked as
   * DPoPHeaderValidator.java:75-95, 163-342 do: one header, `typ` dpop+jwt, a public EC or RSA
   * `jwk` (Utils.java:130-151), `iat` at most 60 s old and not checked for the future, `jti`
   * present, `htm`/`htu` equal to the request ignoring case; failures 400 invalid_dpop_proof
   * (OAuth2Service.java:466-477).
   */
  async function dpopBinding(req: RecordedRequest): Promise<{ jkt?: string } | { refused: string }> {
    if (o.tokenBindingType !== "DPoP") return {};
    const proof = req.headers.dpop;
    if (!proof) return { refused: "DPoP header is required." };
    const checked = await checkTokenRequestProof(proof, { htm: req.method, htu: `${server.origin}${req.path}`, keyTypes: ["EC", "RSA"], maxAgeSeconds: 60, refuseFutureIat: false });
    return "refused" in checked ? checked : { jkt: checked.jkt };
  }

  /** A bound token: `token_type: DPoP` (OauthDPoPInterceptorHandlerProxy.java:185-193) and `binding_type`, `binding_ref`, `cnf.jkt` (JWTTokenIssuer.java:1549-1574). */
  function bound(jkt: string | undefined): { claims: Record<string, unknown>; tokenType: "DPoP" | "Bearer" } {
    if (!jkt) return { claims: {}, tokenType: "Bearer" };
    return { claims: { binding_type: "DPoP", binding_ref: createHash("md5").update(jkt).digest("hex"), cnf: { jkt } }, tokenType: "DPoP" };
  }

  /**
   * AuthorizationCodeGrantHandler.validateGrant (:84-110); a failure's code is AccessTokenIssuer's
   * default invalid_grant (:461-480) with the exception's message as the description.
   */
  async function codeGrant(f: Record<string, string>, res: http.ServerResponse, jkt?: string) {
    const entry = f.code ? codes.get(f.code) : undefined;
    if (!entry) return tokenError(res, "invalid_grant", "Invalid authorization code received from token request"); // :473-487
    if (entry.used) return tokenError(res, "invalid_grant", "Inactive authorization code received from token request"); // :490-498
    entry.used = true; // revoked whatever the checks below find (:98-103)
    if (f.redirect_uri !== entry.redirectUri) return tokenError(res, "invalid_grant", "Callback url mismatch"); // :151-175
    const challenge = createHash("sha256").update(f.code_verifier ?? "").digest("base64url");
    if (challenge !== entry.codeChallenge) return tokenError(res, "invalid_grant", "PKCE validation failed"); // :640-652
    const scope = o.agentTokenScope ?? grantedScope(entry.scope, o.agentScopes);
    const binding = bound(jkt);
    // aut AGENT for a user of the agent user store (AgentAccessTokenClaimProvider.java:43-46).
    const accessToken = await accessTokenFor({ sub: o.agentId, aut: "AGENT", scope, ...binding.claims });
    return sendJson(res, 200, { access_token: accessToken, scope, id_token: await idToken(o.agentId), token_type: binding.tokenType, expires_in: 3600 });
  }

  /** CibaGrantHandler.validateGrant (:91-138), its checks in its order, then issue (:70-89). */
  async function cibaGrant(clientId: string, f: Record<string, string>, res: http.ServerResponse, jkt?: string) {
    const request = ciba.find((c) => c.authReqId === f.auth_req_id);
    if (!request) return tokenError(res, "invalid_grant", "invalid auth_req_id"); // :320-331 (INVALID_AUTH_REQ_ID :65)
    if (request.clientId !== clientId) return tokenError(res, "invalid_grant", "Invalid client. Request ID issued for different client"); // :205-212
    const now = Date.now();
    if (now > request.issuedAt + request.expiresIn * 1000) {
      request.status = "EXPIRED";
      return tokenError(res, "expired_token", "Token expired"); // :189-202
    }
    // :115-118 throws IdentityOAuth2Exception(INVALID_REQUEST): a message without an error code
    // (carbon-identity-framework IdentityException), so AccessTokenIssuer's default invalid_grant
    // is the error and "invalid_request" the description (AccessTokenIssuer.java:461-480).
    if (request.status === "TOKEN_ISSUED") return tokenError(res, "invalid_grant", "invalid_request");
    // A denied consent and a FAILED authentication (another user signed in, a failed sign-in)
    // are one answer (:120-123, :177-181), checked before the pace.
    if (request.status === "CONSENT_DENIED" || request.status === "FAILED") return tokenError(res, "access_denied", "User denied authentication");
    // :220-238: too soon after the last poll → the interval grows by 3 s; the last-poll time is
    // NOT updated here, only on authorization_pending (:128-132, :246-252).
    if (now < request.lastPolledAt + request.intervalSeconds * 1000) {
      request.intervalSeconds += INTERVAL_INCREMENT_SECONDS;
      return tokenError(res, "slow_down", "Slow down");
    }
    if (request.status !== "AUTHENTICATED") {
      request.lastPolledAt = now;
      return tokenError(res, "authorization_pending", "Authorization pending"); // :261-274
    }
    request.status = "TOKEN_ISSUED"; // :78-79
    const scope = grantedScope(request.form.scope ?? "", o.userScopes);
    const binding = bound(jkt);
    // act = the actor_token's sub for the CIBA grant (AgentAccessTokenClaimProvider.java:47-52,
    // CibaGrantHandler.java:308-311); aut APPLICATION_USER (AccessTokenIssuer.java:365-367,
    // JWTTokenIssuer.java:927-928).
    const actor = request.requestedActor ? { act: { sub: request.requestedActor } } : {};
    const accessToken = await accessTokenFor({ sub: request.userId, aut: "APPLICATION_USER", ...actor, scope, ...binding.claims });
    return sendJson(res, 200, { access_token: accessToken, id_token: await idToken(request.userId), token_type: binding.tokenType, expires_in: 3600, scope });
  }

  /** OAuth2CibaEndpoint.ciba (:89-177), parameter-based requests, its checks in its order. */
  async function backchannel(req: RecordedRequest, res: http.ServerResponse) {
    const f = req.form ?? {};
    // :95-102 with the client authentication error; CibaAuthResponseHandler.java:109-126 makes
    // invalid_client 401 and every other client error 400.
    const client = authenticateClient(req);
    if (!client.ok) return sendJson(res, 401, { error: "invalid_client", error_description: client.description });
    const refuse = (error: string, description: string) => sendJson(res, 400, { error, error_description: description });
    // :124-129, :240-242: both keys present (an empty value passes).
    if (!("scope" in f) || !("login_hint" in f)) return refuse("invalid_request", "Missing required parameters. Either 'request' JWT or (scope, login_hint) are required.");
    // :131-132, :468-489: only now the client's grant types.
    if (!o.cibaGrant) return refuse("unauthorized_client", "Client has not configured grant_type properly.");
    if ("binding_message" in f) {
      // :391-407.
      if (isBlank(f.binding_message!)) return refuse("invalid_binding_message", "Invalid value for (binding_message).");
      if (!/^[^<>\x00-\x1F\x7F]+$/.test(f.binding_message!)) return refuse("invalid_binding_message", "Invalid characters present in (binding_message).");
    }
    if ("requested_expiry" in f) {
      // :415-435.
      const value = f.requested_expiry!;
      if (isBlank(value) || !/^[+-]?\d{1,18}$/.test(value)) return refuse("invalid_request", "Invalid value for (requested_expiry).");
      if (Number(value) <= 0) return refuse("invalid_request", "Invalid value for (requested_expiry). Must be greater than 0.");
    }
    if ("notification_channel" in f) {
      // :445-459 and CibaNotificationChannelValidator.java:73-91 (only when the application
      // lists channels).
      if (isBlank(f.notification_channel!)) return refuse("invalid_request", "Invalid value for (notification_channel).");
      if (o.notificationChannels.length && !o.notificationChannels.includes(f.notification_channel!.toLowerCase())) {
        return refuse("invalid_request", "Requested notification channel is not allowed for this application.");
      }
    }
    // :154-164 → ActorTokenValidator.validateAndGetSubject (:57-95).
    let requestedActor: string | undefined;
    if (f.actor_token !== undefined && !isBlank(f.actor_token)) {
      const actor = await validateActorToken(f.actor_token);
      if ("invalid" in actor) return refuse("invalid_request", `Invalid actor_token: ${actor.invalid}`);
      requestedActor = actor.sub;
    }
    // CibaAuthServiceImpl.java:84-97 → DefaultCibaUserResolver.java:111-145: the login_hint as a
    // username, then as a user id; nobody → CibaClientException → invalid_request
    // (OAuth2CibaEndpoint.java:215-216).
    const userId = o.users[f.login_hint!] ?? (Object.values(o.users).includes(f.login_hint!) ? f.login_hint! : undefined);
    if (!userId) return refuse("invalid_request", "Invalid ciba request.");
    const requested = f.requested_expiry !== undefined ? Number(f.requested_expiry) : 0; // :282-291
    const now = Date.now();
    const record: Wso2CibaRecord = {
      authReqId: randomUUID(), // CibaAuthServiceImpl.java:252-255
      clientId: client.clientId,
      form: f,
      userId,
      requestedActor,
      status: "REQUESTED",
      issuedAt: now,
      expiresIn: expiresInFor(requested),
      lastPolledAt: now, // :309 "Initially last polled time is set to issued time."
      intervalSeconds: WSO2_INTERVAL, // :311
    };
    ciba.push(record);
    // CibaAuthResponseHandler.java:49-81 (+ auth_url for the external channel, CibaAuthServiceImpl.java:104-111).
    const authUrl = f.notification_channel === "external" ? { auth_url: `${publicBase}/oauth2/ciba_authorize?authCodeKey=${randomUUID()}` } : {};
    return sendJson(res, 200, { auth_req_id: record.authReqId, expires_in: record.expiresIn, interval: WSO2_INTERVAL, ...authUrl });
  }

  /** CibaAuthServiceImpl.java:266-289: the application's expiry is the default and the cap. */
  function expiresInFor(requested: number): number {
    const configured = o.expiresIn > 0 ? o.expiresIn : 0;
    const max = configured || DEFAULT_EXPIRY_SECONDS;
    if (requested === 0) return configured || DEFAULT_EXPIRY_SECONDS;
    return requested <= max ? requested : max;
  }

  /**
   * ActorTokenValidator.java:57-95: a JWT (:60-65), signed by the server (:74-78), not expired
   * (:83-85), issued by this server's issuer (:88-92); its `sub` is the actor.
   */
  async function validateActorToken(token: string): Promise<{ sub: string } | { invalid: string }> {
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      return { invalid: "Error while parsing the actor token JWT." };
    }
    try {
      await jwtVerify(token, createLocalJWKSet(key.jwks), { clockTolerance: 0 });
    } catch (error) {
      if ((error as { code?: string }).code === "ERR_JWT_EXPIRED") return { invalid: "Actor token has expired." };
      return { invalid: "Signature or message authentication invalid for actor token." };
    }
    if (claims.iss !== issuer) return { invalid: `Invalid issuer in the actor token. Expected: ${issuer}, Received: ${String(claims.iss)}` };
    return { sub: String(claims.sub) };
  }

  /** The requested scopes the role allows, sorted as OAuth2Util.buildScopeString does (:559-566). */
  function grantedScope(requested: string, allowed: string[]): string {
    return requested
      .split(/\s/)
      .filter((s) => s === "openid" || allowed.includes(s))
      .sort()
      .join(" ");
  }

  /**
   * The access token of the application's token type (OAuth2Util.java:2723-2742): a JWT from
   * JWTTokenIssuer (:883-934: iss, sub, azp, client_id, jti, nbf, aud the client id; `scope` a
   * string, or an array with enableJwtScopeAsArray, :916-925), or an opaque one.
   */
  function accessTokenFor(claims: Record<string, unknown>): Promise<string> {
    if (o.accessTokenType === "Default") return Promise.resolve(randomUUID());
    const scope = o.scopeAsArray && typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : claims.scope;
    return mint({ ...claims, scope });
  }

  function mint(claims: Record<string, unknown>): Promise<string> {
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
    /** The dashboard's web application: its credentials, and the app's callback to register once the app has its URL. */
    dashboard: { clientId: dashboard.clientId, clientSecret: dashboard.clientSecret },
    registerDashboardCallback: (uri: string) => {
      dashboardRedirect = uri;
    },
    /** The base URL the app is configured with (WSO2_BASE_URL). */
    base,
    /** The issuer the server names in discovery and puts into every token it signs. */
    issuer,
    jwksUri: `${base}/oauth2/jwks`,
    options: o,
    requests: server.requests,
    ciba,
    /** Requests to one endpoint path (below the base), in order. */
    requestsTo: (path: string) => server.requests.filter((r) => r.path === `${o.orgPath}${path}`),
    waitForCiba: (count = 1, timeoutMs = 45_000) => waitFor(() => (ciba.length >= count ? ciba[count - 1] : undefined), timeoutMs, `CIBA request #${count}`),
    // What the approver does on WSO2's pages (CibaResponseTypeHandler.java), for the tests to steer:
    /** Alice signs in and approves: AUTHENTICATED (:102-104). */
    approve: (authReqId?: string) => void (pick(authReqId).status = "AUTHENTICATED"),
    /** Alice denies the consent: CONSENT_DENIED (:124-135). */
    deny: (authReqId?: string) => void (pick(authReqId).status = "CONSENT_DENIED"),
    /** Someone signs in as another user than the login_hint's: FAILED (:73-99, :116-119). */
    signInAsAnotherUser: (authReqId?: string) => void (pick(authReqId).status = "FAILED"),
    /** The sign-in fails: FAILED (:147-156). */
    failSignIn: (authReqId?: string) => void (pick(authReqId).status = "FAILED"),
    /** The request's expiry passes. */
    expire: (authReqId?: string) => void (pick(authReqId).issuedAt = Date.now() - pick(authReqId).expiresIn * 1000 - 1),
    /** A JWT access token signed with the server's key: this issuer, aud the client id, `claims` on top. */
    mint: (claims: Record<string, unknown>) => mint(claims),
    close: server.close,
  };
}

const isBlank = (value: string) => value.trim() === "";

/**
 * The app's WSO2 profile pointed at a fake: its client, agent identity and Alice, email
 * notifications, plain fetch. Tests override what they exercise.
 */
export function wso2ProfileFor(fake: Wso2Fake, overrides: Partial<Wso2ProfileOptions> = {}) {
  return createWso2Profile({
    baseUrl: fake.base,
    clientId: fake.options.clientId,
    clientSecret: fake.options.clientSecret,
    agentId: fake.options.agentId,
    agentSecret: fake.options.agentSecret,
    redirectUri: fake.options.redirectUri,
    loginHint: "alice@example.com",
    notificationChannel: "email",
    fetch: (input, init) => fetch(input, init),
    ...overrides,
  });
}
