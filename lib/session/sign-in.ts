import "server-only";
import * as client from "openid-client";
import { findInvestor, type AppConfig, type InvestorConfig } from "../config";
import { ProtocolError } from "../errors";
import type { FetchLike } from "../net/fetch";
import { createConfigurationLoader } from "../auth/oidc-config";
import type { Queryable } from "../store/db";
import { CALLBACK_PATH, createCookieJar, safeReturnPath, SIGN_IN_PATH } from "./cookies";
import { createSession, deleteSession, findSession, sealingKey, type InvestorSession } from "./store";

/**
 * Alice's sign-in to the dashboard: the authorization code flow with PKCE (RFC 7636, S256) and an
 * ID token (OpenID Connect Core §3.1), all protocol work done by openid-client, against the
 * configured identity server: the embedded one (its login page) or WSO2 / Auth0 (their hosted
 * login). What this module adds is the app's side:
 *
 * - begin: a fresh state, nonce and PKCE verifier, sealed into a short cookie on the callback's
 *   path with the time it began, and `prompt=login` with `max_age=0`: signing in always asks for
 *   her password, so signing out means something even while the identity server remembers her;
 * - complete: openid-client checks state, `iss` (RFC 9207, on errors too), the code exchange with
 *   the verifier, and the ID token (signature, iss, aud, exp, nonce). The request's `prompt` went
 *   through the browser and could have been dropped, so the ID token's `auth_time` must show a
 *   sign-in after this one began (OpenID Connect Core §3.1.2.1, max_age). Then the `sub` must be
 *   one of the investors this app serves (INVESTOR_USER_ID, INVESTORS), or nobody is signed in;
 *   the session carries that `sub`, and every route reads and writes that investor's data only;
 * - a server-side session (store.ts) whose id travels in a sealed cookie; sign-out deletes it.
 */
export interface SignInDeps {
  config: AppConfig;
  db: Queryable;
  /** The identity server she signs in at: the embedded one's issuer, or the tenant's (or its discovery URL). */
  issuer: string;
  /** The dashboard client's secret; undefined when none is configured (then sign-in is off). */
  clientSecret: string | undefined;
  /** How the app reaches the identity server (the embedded one through AGENT_INTERNAL_URL). */
  fetch: FetchLike;
}

export type SignInStart = { location: string; setCookie: string };
export type SignInEnd = { location: string; setCookies: string[]; session: SignedInInvestor };
/** A valid session and the configured investor it belongs to (her `sub`). */
export type SignedInInvestor = InvestorSession & { investor: InvestorConfig };

const SCOPE = "openid profile email";
/** Clocks of the identity server and this app may differ a little. */
const CLOCK_SKEW_SECONDS = 10;

export function createSignIn({ config, db, issuer, clientSecret, fetch }: SignInDeps) {
  const secure = config.publicUrl.startsWith("https://");
  const loadConfiguration = clientSecret
    ? createConfigurationLoader({
        issuer,
        clientId: config.signIn.clientId,
        clientSecret,
        clientAuth: config.auth.provider === "auth0" ? "client_secret_post" : "client_secret_basic",
        fetch,
        allowHttp: config.auth.provider === "embedded",
      })
    : undefined;
  let jar: Promise<ReturnType<typeof createCookieJar>> | undefined;
  const cookies = () =>
    (jar ??= sealingKey(db)
      .then((key) => createCookieJar(key, { secure, sessionMaxAgeSeconds: config.signIn.sessionMaxAgeSeconds }))
      .catch((error: unknown) => {
        jar = undefined;
        throw error;
      }));

  async function sessionOf(cookieHeader: string | null): Promise<{ id: string; session: SignedInInvestor } | undefined> {
    for (const id of await (await cookies()).sessionIds(cookieHeader)) {
      const session = await findSession(db, id);
      const investor = findInvestor(config, session?.sub);
      if (session && investor) return { id, session: { ...session, investor } };
    }
    return undefined;
  }

  return {
    /** False when the identity server has no dashboard client configured (WSO2 / Auth0 without one). */
    available: loadConfiguration !== undefined,

    /** The signed-in investor's session for this Cookie header, or undefined. */
    async current(cookieHeader: string | null): Promise<SignedInInvestor | undefined> {
      return (await sessionOf(cookieHeader))?.session;
    },

    /** Where to send the browser to sign in, and the cookie that remembers this attempt. */
    async begin(returnTo: string | null): Promise<SignInStart> {
      if (!loadConfiguration) throw signInUnavailable(config);
      const configuration = await loadConfiguration();
      const verifier = client.randomPKCECodeVerifier();
      const pending = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier,
        returnTo: safeReturnPath(returnTo),
        startedAt: Math.floor(Date.now() / 1000),
      };
      const url = client.buildAuthorizationUrl(configuration, {
        redirect_uri: config.signIn.redirectUri,
        scope: SCOPE,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state: pending.state,
        nonce: pending.nonce,
        prompt: "login",
        max_age: "0",
        // With one investor the identity server may prefill her name; with several, she types hers.
        ...(config.investors.length === 1 ? { login_hint: config.investor.email } : {}),
      });
      return { location: url.href, setCookie: await (await cookies()).signInCookie(pending) };
    },

    /**
     * The callback: `search` is the query the identity server sent the browser back with. Throws
     * a ProtocolError for anything that does not end in Alice's session (a refusal at the
     * server, a forged or replayed callback, another user).
     */
    async complete(search: string, cookieHeader: string | null): Promise<SignInEnd> {
      if (!loadConfiguration) throw signInUnavailable(config);
      const jarNow = await cookies();
      const params = new URLSearchParams(search);
      const pending = (await jarNow.pendingSignIns(cookieHeader)).find((p) => p.state === params.get("state"));
      if (!pending) throw new ProtocolError("invalid_request", "This sign-in was not started in this browser, or it took longer than ten minutes. Start again.", { status: 400 });
      const configuration = await loadConfiguration();
      const callbackUrl = new URL(config.signIn.redirectUri);
      callbackUrl.search = search;
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
          pkceCodeVerifier: pending.verifier,
          expectedState: pending.state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        });
      } catch (cause) {
        // An error answer from the server (its `iss` and `state` checked like a success's).
        if (cause instanceof client.AuthorizationResponseError) {
          const described = cause.error_description?.slice(0, 200);
          throw new ProtocolError(cause.error === "access_denied" ? "access_denied" : "invalid_request", `The identity server did not sign you in (${cause.error.slice(0, 40)}${described ? `: ${described}` : ""}).`, { status: 403 });
        }
        console.warn(`[sign-in] the code exchange failed: ${(cause as Error).message}`);
        throw new ProtocolError("invalid_grant", "The identity server's answer could not be verified. Start the sign-in again.", { status: 400 });
      }
      const claims = tokens.claims()!;
      if (typeof claims.auth_time !== "number" || claims.auth_time < pending.startedAt - CLOCK_SKEW_SECONDS) {
        console.warn("[sign-in] refused a sign-in whose auth_time is older than the attempt: the identity server did not re-authenticate her");
        throw new ProtocolError("login_required", "The identity server did not ask for your password. Start the sign-in again.", { status: 403 });
      }
      const investor = findInvestor(config, claims.sub);
      if (!investor) {
        console.warn(`[sign-in] refused ${String(claims.sub).slice(0, 80)}: not an investor this app serves (INVESTOR_USER_ID, INVESTORS)`);
        throw new ProtocolError("access_denied", "You signed in as someone who is not an investor of this app.", { status: 403 });
      }
      const name = typeof claims.name === "string" && claims.name ? claims.name.slice(0, 100) : investor.name;
      const { id, session } = await createSession(db, { sub: claims.sub, name }, config.signIn.sessionMaxAgeSeconds);
      console.log(`[sign-in] ${claims.sub} signed in to the dashboard`);
      return { location: pending.returnTo, setCookies: [await jarNow.sessionCookie(id), jarNow.clearSignInCookie()], session: { ...session, investor } };
    },

    /** Ends the browser's session on the server; the cookie to clear it. */
    async signOut(cookieHeader: string | null): Promise<{ setCookie: string; ended: boolean }> {
      const jarNow = await cookies();
      let ended = false;
      for (const id of await jarNow.sessionIds(cookieHeader)) ended = (await deleteSession(db, id)) || ended;
      if (ended) console.log("[sign-in] a dashboard session was signed out");
      return { setCookie: jarNow.clearSessionCookie(), ended };
    },
  };
}

export type SignIn = ReturnType<typeof createSignIn>;

function signInUnavailable(config: AppConfig): ProtocolError {
  return new ProtocolError(
    "sign_in_unavailable",
    `Sign-in is not configured: register a web application at the identity server with the callback ${config.signIn.redirectUri} and set DASHBOARD_CLIENT_ID and DASHBOARD_CLIENT_SECRET.`,
    { status: 503 },
  );
}

export { CALLBACK_PATH, SIGN_IN_PATH };
