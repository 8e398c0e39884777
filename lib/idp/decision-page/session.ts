import "server-only";
import { hkdfSync, randomBytes } from "node:crypto";
import { sealData, unsealData } from "iron-session";
import { constantTimeEqual } from "../constant-time";
import { cookieValues, parseCookies, serializeCookie, type CookieOptions } from "../../net/cookies";

export { cookieValues, parseCookies, serializeCookie, type CookieOptions };

/**
 * Cookies and form tokens of the approval page.
 *
 * - The session cookie says "this browser signed in for this one request": the account, the
 *   request's handle, a random session id and an expiry, sealed (encrypted and authenticated) with
 *   iron-session under a key derived from the store's cookie key. It is scoped to that request's
 *   path and only ever accepted for that handle, so signing in on A's page cannot decide B.
 * - The browser cookie is a random pre-session nonce: it exists so that the sign-in form's token
 *   has something of this browser to be bound to before there is a session.
 * - The device cookie says "this browser signed in to this account before": the account, a random
 *   device id and an expiry, sealed the same way. It is set on every successful sign-in (keeping
 *   the device id it had), scoped to the whole page and long-lived, and it decides nothing: it
 *   only moves the browser's sign-in attempts from the account's wait to its own (../rate-limit.ts).
 *   Only the server can seal one, and it does so only after a correct password.
 * - A form token (the hidden `csrf` field) is sealed too and names its purpose, the handle and what
 *   it is bound to: the browser nonce for the sign-in form, the session id for the decision form.
 *   It is never a copy of a cookie, so a cookie set from another port of the same host (cookies
 *   ignore ports) gives an attacker nothing to submit.
 *
 * Cookies are HttpOnly and SameSite; the Origin / Sec-Fetch-Site check in lib/net/origin-check.ts is the
 * first line against cross-origin posts, these tokens the second.
 */
export const SESSION_COOKIE = "sg_idp_session";
export const BROWSER_COOKIE = "sg_idp_browser";
export const DEVICE_COOKIE = "sg_idp_device";
export const SESSION_TTL_SECONDS = 15 * 60;
/** A browser stays a known device for this long after its last sign-in. */
export const DEVICE_TTL_SECONDS = 180 * 24 * 3600;
/** A form may stay open while the user reads it; its session or request expires first anyway. */
export const FORM_TOKEN_TTL_SECONDS = 60 * 60;

export type FormPurpose = "sign-in" | "decision" | "consent";

export interface SignInSession {
  accountId: string;
  handle: string;
  sessionId: string;
}

export interface KnownDevice {
  accountId: string;
  deviceId: string;
}

const NONCE = /^[A-Za-z0-9_-]{43}$/;

export function newBrowserNonce(): string {
  return randomBytes(32).toString("base64url");
}

/** The well-formed browser nonces among the cookie values. */
export function browserNonces(values: string[]): string[] {
  return values.filter((v) => NONCE.test(v));
}

type Sealed =
  | { k: "session"; sub: string; h: string; sid: string; exp: number }
  | { k: "form"; p: FormPurpose; h: string; b: string; exp: number }
  | { k: "device"; sub: string; did: string; exp: number };

const MAX_SEAL_LENGTH = 2048;

/**
 * Seals and opens the page's sessions and form tokens. `now` is injectable for tests; iron-session
 * also enforces its own TTL against the real clock.
 */
export function createSessionCodec(cookieKey: string, ttlSeconds = SESSION_TTL_SECONDS) {
  // A key of its own for this page, derived from the store's cookie key (which oidc-provider
  // also uses, for its own cookies).
  const password = Buffer.from(hkdfSync("sha256", cookieKey, "sleeping-guardian", "approval-page-seal", 32)).toString("hex");

  const seal = (data: Sealed, ttl: number) => sealData(data, { password, ttl });
  async function open(value: string): Promise<Partial<Sealed>> {
    if (!value || value.length > MAX_SEAL_LENGTH) return {};
    try {
      return (await unsealData<Sealed>(value, { password, ttl: Math.max(ttlSeconds, FORM_TOKEN_TTL_SECONDS, DEVICE_TTL_SECONDS) })) as Partial<Sealed>;
    } catch {
      return {};
    }
  }

  return {
    /** A session for one account on one request's page. */
    async issue(accountId: string, handle: string, now = Date.now()): Promise<{ value: string; session: SignInSession }> {
      const sid = randomBytes(16).toString("base64url");
      const value = await seal({ k: "session", sub: accountId, h: handle, sid, exp: Math.floor(now / 1000) + ttlSeconds }, ttlSeconds);
      return { value, session: { accountId, handle, sessionId: sid } };
    },

    /** The first of the cookie values that is a live session for this handle; undefined if none. */
    async read(values: string[], handle: string, now = Date.now()): Promise<SignInSession | undefined> {
      for (const value of values) {
        const s = await open(value);
        if (s.k !== "session" || s.h !== handle || typeof s.sub !== "string" || typeof s.sid !== "string") continue;
        if (typeof s.exp !== "number" || s.exp * 1000 <= now) continue;
        return { accountId: s.sub, handle: s.h, sessionId: s.sid };
      }
      return undefined;
    },

    /** A device cookie for this account: with the device id the browser had, or a new one. */
    async issueDevice(accountId: string, deviceId = randomBytes(16).toString("base64url"), now = Date.now()): Promise<{ value: string; device: KnownDevice }> {
      const value = await seal({ k: "device", sub: accountId, did: deviceId, exp: Math.floor(now / 1000) + DEVICE_TTL_SECONDS }, DEVICE_TTL_SECONDS);
      return { value, device: { accountId, deviceId } };
    },

    /** The first of the cookie values that is a live device cookie for this account; undefined if none. */
    async readDevice(values: string[], accountId: string, now = Date.now()): Promise<KnownDevice | undefined> {
      for (const value of values) {
        const d = await open(value);
        if (d.k !== "device" || d.sub !== accountId || typeof d.did !== "string" || !d.did) continue;
        if (typeof d.exp !== "number" || d.exp * 1000 <= now) continue;
        return { accountId: d.sub, deviceId: d.did };
      }
      return undefined;
    },

    /** The hidden `csrf` field for a form of this purpose, on this handle's page, for this binding. */
    formToken(purpose: FormPurpose, handle: string, binding: string, now = Date.now()): Promise<string> {
      return seal({ k: "form", p: purpose, h: handle, b: binding, exp: Math.floor(now / 1000) + FORM_TOKEN_TTL_SECONDS }, FORM_TOKEN_TTL_SECONDS);
    },

    /** True when the field was made by formToken for this purpose and handle, bound to one of `bindings`. */
    async formTokenValid(token: string | null, purpose: FormPurpose, handle: string, bindings: string[], now = Date.now()): Promise<boolean> {
      if (!token) return false;
      const t = await open(token);
      if (t.k !== "form" || t.p !== purpose || t.h !== handle || typeof t.b !== "string") return false;
      if (typeof t.exp !== "number" || t.exp * 1000 <= now) return false;
      const bound = t.b;
      return bindings.some((b) => constantTimeEqual(b, bound));
    },
  };
}

export type SessionCodec = ReturnType<typeof createSessionCodec>;
