import "server-only";
import { decodeJwt } from "jose";
import type { TokenClaims } from "./types";

/**
 * Reads the claims of a JWT access token WITHOUT verifying it. The agent is a client: the
 * resource server (mcp/) checks signatures against the issuer's keys. The client decodes only to
 * show the claims in the token inspector and to compare the granted order with the one it asked
 * for (a mismatch means no trade; a forged match would still fail at the resource server).
 *
 * Only the claims worth showing are kept; the token string itself is never returned or stored.
 */
const SHOWN = ["iss", "sub", "act", "aud", "scope", "client_id", "azp", "aut", "exp", "iat", "jti", "authorization_details", "cnf"] as const;

export function decodeTokenClaims(token: string): TokenClaims {
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token) as Record<string, unknown>;
  } catch {
    // An opaque (non-JWT) token: nothing to show, nothing to compare.
    return { opaque: true };
  }
  const claims: TokenClaims = { opaque: false };
  for (const name of SHOWN) {
    if (payload[name] !== undefined) (claims as unknown as Record<string, unknown>)[name] = payload[name];
  }
  // WSO2 with enableJwtScopeAsArray sends `scope` as an array: shown as the usual string.
  if (Array.isArray(payload.scope)) claims.scope = scopesOf(payload.scope).join(" ");
  return claims;
}

/** The scopes of a token response or claim set, as a list: a space-separated string, or an array of strings. */
export function scopesOf(scope: unknown): string[] {
  if (Array.isArray(scope)) return scope.filter((s): s is string => typeof s === "string" && s !== "");
  return typeof scope === "string" ? scope.split(" ").filter(Boolean) : [];
}
