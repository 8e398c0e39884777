import { createHash, randomBytes } from "node:crypto";
import type http from "node:http";
import { nowSeconds, sendJson, type RecordedRequest, type SigningKey } from "./fake-http";

/**
 * The browser sign-in of a web application at a tenant (WSO2's or Auth0's hosted login), as far as
 * the app's dashboard uses it: the authorization code flow with PKCE for one confidential client.
 * What both servers document and the fake replays:
 *
 * - [CODE] the authorization request (`response_type=code`, `client_id`, `redirect_uri` equal to a
 *   registered one, `scope`, `state`, `nonce`, `code_challenge` + `code_challenge_method=S256`),
 *   the user authenticates on the server's page, and the browser returns to `redirect_uri` with
 *   `code` and `state`; the code is exchanged once at the token endpoint with the same
 *   `redirect_uri` and the `code_verifier` (RFC 7636 §4.6), for an ID token (with `nonce`) and an
 *   access token. Auth0: https://auth0.com/docs/get-started/authentication-and-authorization-flow/authorization-code-flow-with-pkce/call-your-api-using-the-authorization-code-flow-with-pkce
 *   and .../authorization-code-flow/add-login-auth-code-flow; WSO2:
 *   https://is.docs.wso2.com/en/latest/guides/authentication/oidc/implement-auth-code/ and
 *   https://is.docs.wso2.com/en/6.1.0/guides/login/oidc-auth-code-pkce/.
 * - `prompt=login` asks for the password again and `max_age` puts `auth_time` into the ID token
 *   (OpenID Connect Core §3.1.2.1, §2), which both servers support.
 *
 * The login page itself is the fake's own (the real ones are the servers' branded pages): a form
 * with the username, the password and a hidden per-attempt handle.
 */
export interface HostedLoginOptions {
  issuer: () => string;
  clientId: string;
  clientSecret: string;
  /** The callback registered for the client (the app's, known once the app has its port). */
  redirectUri: () => string;
  /** How the client authenticates at the token endpoint. */
  authMethod: "client_secret_basic" | "client_secret_post";
  user: { sub: string; username: string; password: string; name: string; email: string };
  key: SigningKey;
  /** Where the login form posts (below the server's origin). */
  loginPath: string;
}

interface Attempt {
  redirectUri: string;
  state?: string;
  nonce?: string;
  codeChallenge: string;
  scope: string;
  maxAge?: string;
}

export function createHostedLogin(o: HostedLoginOptions) {
  const attempts = new Map<string, Attempt>();
  const codes = new Map<string, Attempt & { authTime: number; used: boolean }>();
  const errorPage = (res: http.ServerResponse, status: number, text: string) => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
    res.end(text);
  };

  return {
    /** GET authorize: the login form, or an error page for a request the server would not serve. */
    authorize(req: RecordedRequest, res: http.ServerResponse) {
      const q = req.query;
      if (q.client_id !== o.clientId) return errorPage(res, 400, "Unknown client");
      // A redirect_uri that is not registered is never redirected to.
      if (!q.redirect_uri || q.redirect_uri !== o.redirectUri()) return errorPage(res, 400, "Callback URL mismatch");
      if (q.response_type !== "code" || q.code_challenge_method !== "S256" || !q.code_challenge) return errorPage(res, 400, "Invalid authorization request");
      const handle = randomBytes(16).toString("base64url");
      attempts.set(handle, { redirectUri: q.redirect_uri, state: q.state, nonce: q.nonce, codeChallenge: q.code_challenge, scope: q.scope ?? "openid", maxAge: q.max_age });
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><title>Log in</title><form method="post" action="${o.loginPath}">
<input type="hidden" name="attempt" value="${handle}">
<input name="username" value="${q.login_hint ?? ""}"><input name="password" type="password"><button>Continue</button></form>`);
    },

    /** POST of the login form: back to the client with a code, or the form again. */
    login(req: RecordedRequest, res: http.ServerResponse) {
      const f = req.form ?? {};
      const attempt = attempts.get(f.attempt ?? "");
      if (!attempt) return errorPage(res, 400, "This login attempt has expired.");
      if (f.username !== o.user.username || f.password !== o.user.password) return errorPage(res, 401, "Wrong email or password.");
      attempts.delete(f.attempt!);
      const code = randomBytes(24).toString("base64url");
      codes.set(code, { ...attempt, authTime: nowSeconds(), used: false });
      const target = new URL(attempt.redirectUri);
      target.searchParams.set("code", code);
      if (attempt.state !== undefined) target.searchParams.set("state", attempt.state);
      res.writeHead(302, { location: target.toString() });
      res.end();
    },

    /** True when this token request is the dashboard's code exchange (the fake's caller routes it here). */
    handles(req: RecordedRequest): boolean {
      const f = req.form ?? {};
      return f.grant_type === "authorization_code" && (req.basic?.id ?? f.client_id) === o.clientId;
    },

    /** The code exchange at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6). */
    async exchange(req: RecordedRequest, res: http.ServerResponse) {
      const f = req.form ?? {};
      const authenticated =
        o.authMethod === "client_secret_basic"
          ? req.basic?.id === o.clientId && req.basic.secret === o.clientSecret
          : !req.basic && f.client_id === o.clientId && f.client_secret === o.clientSecret;
      if (!authenticated) return sendJson(res, 401, { error: "invalid_client", error_description: "Client authentication failed." });
      const grant = codes.get(f.code ?? "");
      if (!grant || grant.used) return sendJson(res, 400, { error: "invalid_grant", error_description: "Invalid authorization code" });
      grant.used = true;
      if (f.redirect_uri !== grant.redirectUri) return sendJson(res, 400, { error: "invalid_grant", error_description: "redirect_uri mismatch" });
      const challenge = createHash("sha256").update(f.code_verifier ?? "").digest("base64url");
      if (challenge !== grant.codeChallenge) return sendJson(res, 400, { error: "invalid_grant", error_description: "Failed to verify code verifier" });
      const now = nowSeconds();
      const idToken = await o.key.sign({
        iss: o.issuer(),
        sub: o.user.sub,
        aud: o.clientId,
        iat: now,
        exp: now + 3600,
        ...(grant.nonce ? { nonce: grant.nonce } : {}),
        ...(grant.maxAge !== undefined ? { auth_time: grant.authTime } : {}),
        name: o.user.name,
        email: o.user.email,
      });
      return sendJson(res, 200, { access_token: randomBytes(24).toString("base64url"), id_token: idToken, token_type: "Bearer", expires_in: 3600, scope: grant.scope });
    },
  };
}
