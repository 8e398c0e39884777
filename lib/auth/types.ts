/**
 * Shapes the client side of authorization shares with the agent and the dashboard. No secrets:
 * a TokenClaims is what the token inspector may show; a token string never appears in one.
 */

/** Decoded (unverified) claims of an access token, as far as the inspector shows them. */
export interface TokenClaims {
  /** True when the token is not a JWT: nothing can be shown. */
  opaque: boolean;
  iss?: string;
  sub?: string;
  act?: { sub?: string; [k: string]: unknown };
  aud?: string | string[];
  scope?: string;
  client_id?: string;
  azp?: string;
  aut?: string;
  exp?: number;
  iat?: number;
  jti?: string;
  authorization_details?: unknown[];
  /** RFC 7800 confirmation: `jkt` names the DPoP key the token is bound to (RFC 9449 §6.1). */
  cnf?: { jkt?: string; [k: string]: unknown };
}
