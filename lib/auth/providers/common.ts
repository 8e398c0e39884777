import "server-only";
import * as client from "openid-client";
import { decodeTokenClaims, scopesOf } from "../claims";
import { classifyOAuthError } from "../oauth-errors";
import type { TokenClaims } from "../types";
import { toPollOutcome } from "./poll-outcome";
import { AgentTokenError, CibaRequestError, type CibaAcknowledgement, type CibaPollOutcome, type TokenResult } from "./types";

/**
 * What every profile shares (the embedded server, WSO2 and Auth0): the scopes and URNs, what a
 * failed agent-token or CIBA request becomes, the CIBA acknowledgement, the token poll, and how a
 * token response is read.
 */
export const AGENT_SCOPE = "openid stock:read";
export const USER_SCOPE = "openid stock:read stock:trade";
export const CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** An OAuth error is the request's fault; anything else may pass (retry later). */
export async function agentTokenFailure(error: unknown): Promise<AgentTokenError> {
  const c = await classifyOAuthError(error);
  return c.kind === "oauth" ? new AgentTokenError(c.error, c.description, false) : new AgentTokenError("unreachable", c.message, true);
}

export async function cibaRequestFailure(error: unknown): Promise<CibaRequestError> {
  const c = await classifyOAuthError(error);
  return c.kind === "oauth" ? new CibaRequestError(c.error, c.description, false) : new CibaRequestError("unreachable", c.message, true);
}

/** CIBA Core §7.3; an absent or non-positive `interval` means the client's default (5 s). */
export function toAcknowledgement(ack: client.BackchannelAuthenticationResponse): CibaAcknowledgement {
  return {
    authReqId: ack.auth_req_id,
    expiresIn: ack.expires_in,
    interval: typeof ack.interval === "number" && ack.interval > 0 ? ack.interval : undefined,
  };
}

/**
 * One CIBA token request (CIBA Core §10.1) for `authReqId`: the token when approved, else what the
 * poller does next. A configuration still being discovered counts as part of the request (a
 * failed discovery is an outcome, not a throw). `onDenied` tells a denial from an expiry where
 * the server says access_denied for both (Auth0).
 */
export async function pollCibaGrant(
  configuration: client.Configuration | Promise<client.Configuration>,
  authReqId: string,
  onDenied?: (description: string | undefined) => "denied" | "expired",
): Promise<CibaPollOutcome> {
  try {
    const response = await client.genericGrantRequest(await configuration, CIBA_GRANT_TYPE, { auth_req_id: authReqId });
    return { kind: "approved", token: toTokenResult(response) };
  } catch (error) {
    return toPollOutcome(await classifyOAuthError(error), onDenied);
  }
}

/** The acting party of an on-behalf-of token as RFC 8693 §4.1 names it: `act.sub`. */
export const actSubActor = (claims: TokenClaims): string | undefined => (typeof claims.act?.sub === "string" ? claims.act.sub : undefined);

/** The granted authorization_details: from the token response, else the token's claim. */
export const grantedDetails = (token: TokenResult): unknown[] | undefined => token.authorizationDetails ?? token.claims.authorization_details;

export function toTokenResult(response: client.TokenEndpointResponse): TokenResult {
  const claims = decodeTokenClaims(response.access_token);
  const expiresIn = typeof response.expires_in === "number" ? response.expires_in : undefined;
  const expiresAt = expiresIn !== undefined ? new Date(Date.now() + expiresIn * 1000) : claims.exp ? new Date(claims.exp * 1000) : new Date(Date.now() + 300_000);
  const details = (response as { authorization_details?: unknown }).authorization_details;
  return {
    accessToken: response.access_token,
    expiresAt,
    scopes: scopesOf(response.scope ?? claims.scope),
    claims,
    authorizationDetails: Array.isArray(details) ? details : undefined,
  };
}
