import "server-only";
import { sealData, unsealData } from "iron-session";
import { cookieValues, serializeCookie } from "../net/cookies";

/**
 * The dashboard's two cookies, both HttpOnly and sealed with iron-session (encrypted and
 * authenticated) under the app's own key (store.ts sealingKey):
 *
 * - `sg_session`: the id of a server-side session (store.ts). SameSite=Lax, so that the
 *   redirect back from a hosted login (WSO2, Auth0: another site) still lands signed in; every
 *   write also needs the request's Origin to be this app's (guard.ts), which SameSite alone
 *   cannot promise for another port of the same host.
 * - `sg_sign_in`: one sign-in in progress: the state, nonce and PKCE verifier openid-client made,
 *   and where to return. Scoped to the callback's path and ten minutes; the callback clears it.
 *
 * Nothing in either is a token: the ID token is checked at the callback and dropped.
 */
export const SESSION_COOKIE = "sg_session";
export const SIGN_IN_COOKIE = "sg_sign_in";
export const SIGN_IN_PATH = "/auth/sign-in";
export const CALLBACK_PATH = "/auth/callback";
export const SIGN_OUT_PATH = "/auth/sign-out";
export const SIGN_IN_TTL_SECONDS = 600;

export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  /** When the sign-in began (seconds): the ID token's auth_time must not be older. */
  startedAt: number;
}

type Sealed = ({ k: "session"; sid: string } | ({ k: "sign-in" } & PendingSignIn)) & { exp: number };

const MAX_SEAL_LENGTH = 2048;

export function createCookieJar(password: string, options: { secure: boolean; sessionMaxAgeSeconds: number }) {
  const { secure, sessionMaxAgeSeconds } = options;
  async function open(value: string): Promise<Partial<Sealed>> {
    if (!value || value.length > MAX_SEAL_LENGTH) return {};
    try {
      return await unsealData<Sealed>(value, { password, ttl: Math.max(sessionMaxAgeSeconds, SIGN_IN_TTL_SECONDS) });
    } catch {
      return {};
    }
  }
  const live = (s: Partial<Sealed>) => typeof s.exp === "number" && s.exp * 1000 > Date.now();
  const expiry = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;

  return {
    async sessionCookie(sid: string): Promise<string> {
      const value = await sealData({ k: "session", sid, exp: expiry(sessionMaxAgeSeconds) } satisfies Sealed, { password, ttl: sessionMaxAgeSeconds });
      return serializeCookie(SESSION_COOKIE, value, { path: "/", secure, maxAgeSeconds: sessionMaxAgeSeconds, sameSite: "Lax" });
    },
    clearSessionCookie: () => serializeCookie(SESSION_COOKIE, "", { path: "/", secure, maxAgeSeconds: 0, sameSite: "Lax" }),
    /** The session ids in the Cookie header (a browser may send more than one `sg_session`). */
    async sessionIds(cookieHeader: string | null): Promise<string[]> {
      const ids: string[] = [];
      for (const value of cookieValues(cookieHeader, SESSION_COOKIE).slice(0, 4)) {
        const s = await open(value);
        if (s.k === "session" && typeof s.sid === "string" && live(s)) ids.push(s.sid);
      }
      return ids;
    },
    async signInCookie(pending: PendingSignIn): Promise<string> {
      const value = await sealData({ k: "sign-in", ...pending, exp: expiry(SIGN_IN_TTL_SECONDS) } satisfies Sealed, { password, ttl: SIGN_IN_TTL_SECONDS });
      return serializeCookie(SIGN_IN_COOKIE, value, { path: CALLBACK_PATH, secure, maxAgeSeconds: SIGN_IN_TTL_SECONDS, sameSite: "Lax" });
    },
    clearSignInCookie: () => serializeCookie(SIGN_IN_COOKIE, "", { path: CALLBACK_PATH, secure, maxAgeSeconds: 0, sameSite: "Lax" }),
    /** Every live sign-in in progress in the Cookie header (the callback tries each against `state`). */
    async pendingSignIns(cookieHeader: string | null): Promise<PendingSignIn[]> {
      const out: PendingSignIn[] = [];
      for (const value of cookieValues(cookieHeader, SIGN_IN_COOKIE).slice(0, 4)) {
        const s = await open(value);
        if (
          s.k === "sign-in" &&
          live(s) &&
          typeof s.state === "string" &&
          typeof s.nonce === "string" &&
          typeof s.verifier === "string" &&
          typeof s.returnTo === "string" &&
          typeof s.startedAt === "number"
        ) {
          out.push({ state: s.state, nonce: s.nonce, verifier: s.verifier, returnTo: s.returnTo, startedAt: s.startedAt });
        }
      }
      return out;
    },
  };
}

export type CookieJar = ReturnType<typeof createCookieJar>;

/**
 * Where to go after signing in: a path of this app, nothing else. `//host`, `/\\host`, schemes
 * and control characters would let a link send her to another site once she signed in; anything
 * but printable ASCII could not go into the Location header at all.
 */
export function safeReturnPath(value: string | null | undefined): string {
  if (!value || value.length > 200 || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  // Printable ASCII only: a Location header carries nothing else, and no control character.
  if (!/^[\x21-\x7e]+$/.test(value) || value.includes("\\")) return "/";
  if (value.startsWith("/auth/")) return "/";
  return value;
}
