import "server-only";
import { createHash } from "node:crypto";
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from "jose";
import { invalidDpopProof } from "../lib/errors";

/**
 * DPoP proof verification at the resource server (RFC 9449 §4.3 and §7.1): the checks a request
 * with `Authorization: DPoP <token>` must pass before the token counts, in the RFC's order. Each
 * failure is a ProtocolError `invalid_dpop_proof` (lib/errors.ts), which the gate answers with 401 `invalid_dpop_proof`. Never logs
 * the proof or the token.
 *
 *  1. exactly one `DPoP` header, one compact JWS (§4.3 check 1-2);
 *  2. `typ` is `dpop+jwt`, `alg` an asymmetric algorithm from DPOP_ALGORITHMS (check 4-5);
 *  3. `jwk` is a public key (no private members) and the signature verifies with it (check 6-7);
 *  4. `jti`, `htm`, `htu`, `iat` present; `htm` = the request's method; `htu` = this resource's
 *     configured public URL, both without query and fragment, as WHATWG URLs normalize them
 *     (check 3, 8, 9; the URL Next.js hands the route may be the internal one, so the request URL
 *     is never compared);
 *  5. `iat` within IAT_WINDOW_SECONDS of now, either way (check 11; this server issues no nonces);
 *  6. `ath` = base64url(SHA-256(access token)) (check 12, §7.1);
 *  7. the JWK thumbprint (RFC 7638) = the token's `cnf.jkt` (§7.1, §6.1);
 *  8. `jti` not seen before for this key (check 9 via the replay store, §11.1): last, so only a
 *     proof that passed everything else takes up a slot.
 */

/** Asymmetric algorithms only (RFC 9449 §4.2: not `none`, no MAC): advertised as `algs` and in the metadata. */
export const DPOP_ALGORITHMS = ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA", "Ed25519"];

/** How far `iat` may be from now, either way. The replay store keeps a `jti` at least this long. */
export const IAT_WINDOW_SECONDS = 60;

/** A proof is a few hundred bytes (an RSA-4096 `jwk` stays under 2 KiB). */
const MAX_PROOF_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** Remembers (key thumbprint, jti) pairs until they expire; shared by every instance (dpop-replay.ts). */
export interface ProofReplayStore {
  /** True the first time the pair is seen, false for a replay. */
  useOnce(jkt: string, jti: string, expiresAt: Date): Promise<boolean>;
}

export interface ProofCheck {
  /** The request's `DPoP` header as fetch's Headers returns it (repeated headers joined by ", "). */
  header: string | null;
  method: string;
  /** The resource's configured public URL (config.mcp.resourceUrl). */
  resourceUrl: string;
  accessToken: string;
  /** The token's `cnf.jkt`. */
  jkt: string;
  replay: ProofReplayStore;
  now?: () => number;
}

export async function verifyDPoPProof(check: ProofCheck): Promise<void> {
  const proof = oneProof(check.header);
  const { payload, jwk } = await verifySignature(proof);
  const claims = requiredClaims(payload);
  if (claims.htm !== check.method) throw invalidDpopProof("The DPoP proof's htm is not this request's method.");
  if (!sameTarget(claims.htu, check.resourceUrl)) throw invalidDpopProof("The DPoP proof's htu is not this resource's URL.");
  const nowSeconds = Math.floor((check.now ?? Date.now)() / 1000);
  if (Math.abs(nowSeconds - claims.iat) > IAT_WINDOW_SECONDS) throw invalidDpopProof("The DPoP proof's iat is outside the accepted window.");
  if (claims.ath !== accessTokenHash(check.accessToken)) throw invalidDpopProof("The DPoP proof's ath does not match the access token.");
  if ((await calculateJwkThumbprint(jwk, "sha256")) !== check.jkt) throw invalidDpopProof("The DPoP proof is signed by another key than the token is bound to.");
  const expiresAt = new Date((claims.iat + IAT_WINDOW_SECONDS + 1) * 1000);
  if (!(await check.replay.useOnce(check.jkt, claims.jti, expiresAt))) throw invalidDpopProof("The DPoP proof has been used before.");
}

/** RFC 9449 §4.1 `ath`: base64url of the SHA-256 of the ASCII access token. */
export function accessTokenHash(accessToken: string): string {
  return createHash("sha256").update(accessToken, "ascii").digest("base64url");
}

function oneProof(header: string | null): string {
  if (header === null || header.trim() === "") throw invalidDpopProof("A DPoP proof is required with the DPoP scheme.");
  const value = header.trim();
  if (value.includes(",")) throw invalidDpopProof("Exactly one DPoP proof is allowed.");
  if (value.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(value)) throw invalidDpopProof("The DPoP proof is not a compact JWS.");
  return value;
}

async function verifySignature(proof: string): Promise<{ payload: Record<string, unknown>; jwk: JWK }> {
  let header;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalidDpopProof("The DPoP proof's header cannot be read.");
  }
  if (header.typ !== "dpop+jwt") throw invalidDpopProof("The DPoP proof's typ must be dpop+jwt.");
  if (typeof header.alg !== "string" || !DPOP_ALGORITHMS.includes(header.alg)) throw invalidDpopProof("The DPoP proof's alg is not accepted.");
  const jwk = header.jwk;
  if (!jwk || typeof jwk !== "object") throw invalidDpopProof("The DPoP proof carries no jwk.");
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw invalidDpopProof("The DPoP proof's jwk must be a public key.");
  try {
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { algorithms: DPOP_ALGORITHMS, typ: "dpop+jwt" });
    return { payload: payload as Record<string, unknown>, jwk };
  } catch {
    throw invalidDpopProof("The DPoP proof's signature does not verify with its jwk.");
  }
}

function requiredClaims(payload: Record<string, unknown>): { jti: string; htm: string; htu: string; iat: number; ath: unknown } {
  const { jti, htm, htu, iat, ath } = payload;
  if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) throw invalidDpopProof("The DPoP proof needs a jti of 1 to 256 characters.");
  if (typeof htm !== "string" || typeof htu !== "string") throw invalidDpopProof("The DPoP proof needs htm and htu.");
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw invalidDpopProof("The DPoP proof needs a numeric iat.");
  return { jti, htm, htu, iat, ath };
}

/** `htu` and the resource URL as RFC 9449 §4.3 compares them: no query, no fragment, normalized. */
function sameTarget(htu: string, resourceUrl: string): boolean {
  const a = parseUrl(htu);
  const b = parseUrl(resourceUrl);
  if (!a || !b) return false;
  for (const url of [a, b]) {
    url.search = "";
    url.hash = "";
  }
  return a.href === b.href;
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
