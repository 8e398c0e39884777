import "server-only";
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from "jose";
import { invalidToken } from "../errors";

/**
 * Verifies access tokens this server issued itself, when a client hands one back: the CIBA
 * `actor_token` and the RFC 8693 `subject_token` / `actor_token`. Same checks a resource server
 * makes (signature with our keys, `iss`, `typ: at+jwt` per RFC 9068 §4, `exp`, allowed algorithm),
 * plus: the token must have been issued to the client presenting it, so that one client cannot
 * borrow another's token as its actor or subject.
 */
export interface OwnAccessToken extends JWTPayload {
  sub: string;
  client_id: string;
  scope?: string;
  act?: Record<string, unknown>;
  authorization_details?: unknown[];
  aut?: string;
}

export type OwnTokenVerifier = (token: string, expectedClientId: string) => Promise<OwnAccessToken>;

export function createOwnTokenVerifier(issuer: string, publicKeys: JWK[]): OwnTokenVerifier {
  const keys = createLocalJWKSet({ keys: publicKeys });
  return async (token, expectedClientId) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, { issuer, typ: "at+jwt", algorithms: ["RS256"] }));
    } catch {
      throw invalidToken("the token is invalid or expired");
    }
    if (typeof payload.sub !== "string" || payload.sub === "") throw invalidToken("the token has no subject");
    if (payload.client_id !== expectedClientId) throw invalidToken("the token was not issued to this client");
    return payload as OwnAccessToken;
  };
}
