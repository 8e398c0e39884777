import "server-only";
import { createHmac, randomBytes } from "node:crypto";
import { constantTimeEqual } from "../constant-time";

/**
 * Cookies of the approval page. The session cookie says "Alice signed in here recently": the
 * account id and an expiry, HMAC-signed with a key from the store. The CSRF cookie holds a random
 * token that every form repeats in a hidden field (double submit); a page on another site can
 * neither read the cookie nor make the browser send a matching field. Both are HttpOnly,
 * SameSite=Lax and scoped to the approval page's path.
 */
export const SESSION_COOKIE = "sg_idp_session";
export const CSRF_COOKIE = "sg_idp_csrf";
export const SESSION_TTL_SECONDS = 15 * 60;

export interface CookieOptions {
  path: string;
  secure: boolean;
  maxAgeSeconds: number;
}

export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i < 1) continue;
    const name = part.slice(0, i).trim();
    if (!(name in out)) out[name] = part.slice(i + 1).trim();
  }
  return out;
}

export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${value}; Path=${o.path}; Max-Age=${o.maxAgeSeconds}; HttpOnly; SameSite=Lax${o.secure ? "; Secure" : ""}`;
}

export function newCsrfToken(): string {
  return randomBytes(32).toString("base64url");
}

/** True when the form's CSRF field matches the cookie (constant-time). */
export function csrfMatches(cookieValue: string | undefined, formValue: string | null): boolean {
  if (!cookieValue || !formValue) return false;
  return constantTimeEqual(formValue, cookieValue);
}

export function createSessionCodec(key: string, ttlSeconds = SESSION_TTL_SECONDS) {
  const sign = (body: string) => createHmac("sha256", key).update(`approval-session.${body}`).digest("base64url");
  return {
    issue(accountId: string, now = Date.now()): string {
      const body = Buffer.from(JSON.stringify({ sub: accountId, exp: Math.floor(now / 1000) + ttlSeconds })).toString("base64url");
      return `${body}.${sign(body)}`;
    },
    /** The signed-in account, or undefined for a missing, forged or expired cookie. */
    read(value: string | undefined, now = Date.now()): string | undefined {
      if (!value) return undefined;
      const [body, signature, extra] = value.split(".");
      if (!body || !signature || extra !== undefined || !constantTimeEqual(signature, sign(body))) return undefined;
      try {
        const { sub, exp } = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { sub?: unknown; exp?: unknown };
        if (typeof sub !== "string" || typeof exp !== "number" || exp * 1000 <= now) return undefined;
        return sub;
      } catch {
        return undefined;
      }
    },
  };
}

export type SessionCodec = ReturnType<typeof createSessionCodec>;
