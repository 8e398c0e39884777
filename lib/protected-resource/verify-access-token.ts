import "server-only";
import { errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { AppConfig } from "../config";
import { trustedIssuer } from "../net/issuer-discovery";
import { remoteKeys } from "./issuer-keys";
import { AccessTokenClaims, toPrincipal, type AgentIdentity, type Principal } from "./principal";
import { invalidToken, ProtocolError, unreachable } from "../errors";

/**
 * Access-token verification for the resource server (RFC 9068 JWT access tokens, RFC 6750 bearer
 * usage): the MCP server's gate uses it, and the doctor asks it whether the MCP server would accept
 * the agent's token. A token is trusted only through the issuer's JWKS: the same code for the
 * embedded server, WSO2 and Auth0. Never logs the token.
 *
 * Checks, in jose's order and ours: compact JWS; `alg` on the asymmetric allow-list (so `none`
 * and HS256-signed-with-the-public-key are refused before any key is used); signature against the
 * issuer's keys; `iss`; `aud`; `exp` present and not past (≤ 30 s leeway); `nbf`; `typ` when the
 * server sets one; claim shapes (sub, scope, act, authorization_details).
 */

/** Asymmetric algorithms only: an HMAC "key" would be the public key, which everyone has. */
export const ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

/** Clock skew we forgive on exp/nbf, in seconds. Small: a token is short-lived by design. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** `typ` values an access token may carry (RFC 9068 §2.1; many servers send "JWT" or nothing). */
const ALLOWED_TYP = new Set(["at+jwt", "application/at+jwt", "jwt"]);

export interface VerifyOptions extends AgentIdentity {
  /** The trusted issuer, or how to learn it (WSO2: from the server's discovery document). */
  issuer: string | (() => Promise<string>);
  audience: string;
  /** The key source: the remote JWKS in the app, a local set in unit tests. */
  keys: JWTVerifyGetKey;
}

/** The MCP server's verification settings for a configuration: its issuer, audience, JWKS and agent. */
export function verifyOptionsFor(config: AppConfig): VerifyOptions {
  return {
    issuer: config.auth.issuerDiscovery ? () => trustedIssuer(config.auth) : config.auth.issuer,
    audience: config.auth.audience,
    keys: remoteKeys(config.auth.jwksUri, { caFile: config.auth.caFile }),
    agentId: config.agent.id,
    agentClientId: config.auth.agentClientId,
  };
}

/**
 * Verifies a JWT access token (RFC 9068) against the issuer's keys. Rejects with a ProtocolError:
 * `invalid_token` (401, RFC 6750 §3.1), or `temporarily_unavailable` (503, retryable) when the
 * issuer's keys cannot be fetched: the token may be fine, so the client is not told to throw it away.
 */

export async function verifyAccessToken(token: string, options: VerifyOptions): Promise<Principal> {
  const issuer = await issuerOf(options);
  let payload: unknown;
  try {
    const result = await jwtVerify(token, options.keys, {
      issuer,
      audience: options.audience,
      algorithms: ALLOWED_ALGORITHMS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "sub"],
    });
    const typ = result.protectedHeader.typ;
    if (typ !== undefined && !ALLOWED_TYP.has(typ.toLowerCase())) {
      throw invalidToken("The token is not an access token.");
    }
    payload = result.payload;
  } catch (error) {
    throw toTokenError(error);
  }
  const claims = AccessTokenClaims.safeParse(payload);
  if (!claims.success) throw invalidToken("The token's claims are malformed.");
  return toPrincipal(claims.data, options);
}

/** The trusted issuer; when it cannot be learnt the token may be fine: 503, retryable, like unreachable keys. */
async function issuerOf(options: VerifyOptions): Promise<string> {
  if (typeof options.issuer === "string") return options.issuer;
  try {
    return await options.issuer();
  } catch {
    throw unreachable("temporarily_unavailable", "The issuer's discovery document could not be read.");
  }
}

function toTokenError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  if (error instanceof errors.JWTExpired) return invalidToken("The token has expired.");
  if (error instanceof errors.JWTClaimValidationFailed) {
    return invalidToken(`The token's ${error.claim} claim is not accepted.`);
  }
  if (isKeySourceFailure(error)) {
    return unreachable("temporarily_unavailable", "The issuer's signing keys could not be loaded.");
  }
  return invalidToken("The token is invalid.");
}

/**
 * The JWKS endpoint timed out, answered non-200 or non-JSON (jose's generic error), served an
 * invalid key set, or could not be reached at all (fetch's TypeError). Everything else is the
 * token's fault.
 */
function isKeySourceFailure(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return true;
  if (error instanceof errors.JOSEError) return error.code === "ERR_JOSE_GENERIC";
  return error instanceof TypeError && /fetch/i.test(error.message);
}
