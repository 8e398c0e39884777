/**
 * Reading and writing cookies by hand, the few lines every page here needs: a Cookie header to
 * values, and one Set-Cookie line. Every cookie this app sets is HttpOnly.
 */
export interface CookieOptions {
  path: string;
  secure: boolean;
  maxAgeSeconds: number;
  sameSite: "Strict" | "Lax";
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

/**
 * Every value sent for one cookie name. A browser sends several when cookies of the same name
 * exist for different paths or domains (one of them may have been planted by another site on
 * this host), so readers try each instead of trusting the first.
 */
export function cookieValues(header: string | null, name: string): string[] {
  const out: string[] = [];
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i >= 1 && part.slice(0, i).trim() === name) out.push(part.slice(i + 1).trim());
  }
  return out;
}

export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${value}; Path=${o.path}; Max-Age=${o.maxAgeSeconds}; HttpOnly; SameSite=${o.sameSite}${o.secure ? "; Secure" : ""}`;
}
