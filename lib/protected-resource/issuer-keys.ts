import "server-only";
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from "jose";
import { caDispatcher } from "../net/ca-fetch";

const remoteKeySets = new Map<string, JWTVerifyGetKey>();

/**
 * The issuer's JWKS, fetched on demand and cached per process (jose refreshes on unknown `kid`).
 * `caFile` (WSO2_CA_FILE) adds a private CA for a server with a self-signed certificate; the
 * certificate is still verified (lib/net/ca-fetch.ts).
 */
export function remoteKeys(jwksUri: string, options: { caFile?: string } = {}): JWTVerifyGetKey {
  const cacheKey = `${jwksUri} ${options.caFile ?? ""}`;
  let keys = remoteKeySets.get(cacheKey);
  if (!keys) {
    const caFile = options.caFile;
    keys = createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      ...(caFile ? { [customFetch]: (url: string, init: RequestInit) => fetchWithCa(url, init, caFile) } : {}),
    });
    remoteKeySets.set(cacheKey, keys);
  }
  return keys;
}

/** A CA file that cannot be read means the keys are unavailable (503), not that the token is bad. */
async function fetchWithCa(url: string, init: RequestInit, caFile: string): Promise<Response> {
  let dispatcher;
  try {
    dispatcher = await caDispatcher(caFile);
  } catch (error) {
    throw new TypeError(`fetch failed: ${error instanceof Error ? error.message : "CA file"}`);
  }
  return fetch(url, { ...init, dispatcher } as RequestInit);
}
