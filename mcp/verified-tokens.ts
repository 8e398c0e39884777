import "server-only";
import { createHash } from "node:crypto";
import { CLOCK_TOLERANCE_SECONDS } from "../lib/protected-resource/verify-access-token";
import type { Principal } from "../lib/protected-resource/principal";
import type { TokenVerifier } from "./gate";

/**
 * Remembers the tokens the verifier accepted, so that a client presenting the same token again
 * (the agent reads the price with one token for its whole life) costs a hash and a lookup instead
 * of a signature verification. Only acceptances are remembered: a refused token is verified, and
 * refused, every time.
 *
 * - Keyed by the token's SHA-256, so the cache holds no token.
 * - An entry lives until the token's `exp` (with the verifier's clock tolerance, so a remembered
 *   token is refused at the moment verification would refuse it), and at most `maxAgeMs`: a
 *   signing key the issuer withdraws from its JWKS stops vouching for a token within that time.
 * - At most `maxEntries` (the oldest entry makes room).
 * - The principal handed out is frozen: every request sees the claims as verified.
 *
 * Everything else the gate checks per request still runs per request: Origin, the header's form,
 * the DPoP proof of a bound token (a fresh proof each time, never cached).
 */
export interface VerifiedTokenCacheOptions {
  maxEntries?: number;
  maxAgeMs?: number;
  now?: () => number;
}

export function cacheVerifiedTokens(verify: TokenVerifier, options: VerifiedTokenCacheOptions = {}): TokenVerifier {
  const maxEntries = options.maxEntries ?? 1000;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { principal: Principal; until: number }>();

  return async (token) => {
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = entries.get(key);
    if (hit) {
      if (now() < hit.until) return hit.principal;
      entries.delete(key);
    }
    const principal = Object.freeze(await verify(token));
    const until = Math.min(now() + maxAgeMs, (principal.expiresAt + CLOCK_TOLERANCE_SECONDS) * 1000);
    if (until > now()) {
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(key, { principal, until });
    }
    return principal;
  };
}
