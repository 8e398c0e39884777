import "server-only";
import * as client from "openid-client";
import { decodeTokenClaims, scopesOf } from "../claims";
import type { DPoPKeySource, DPoPKey } from "../dpop";
import { invalidResponse, ProtocolError, unreachable } from "../../errors";
import { classifyOAuthError } from "../oauth-errors";
import type { TokenClaims } from "../types";
import { CIBA_GRANT_TYPE } from "../../protocol";
import { toPollOutcome } from "./poll-outcome";
import type { CibaAcknowledgement, CibaPollOutcome, TokenResult } from "./types";

// What every profile shares (the embedded server, WSO2 and Auth0): what a failed agent-token or
// CIBA request becomes, the CIBA acknowledgement, the token poll, and how a token response is read.

/**
 * Runs one request of a profile to the identity server (the agent token, the start of a CIBA
 * request); whatever fails becomes a ProtocolError (requestFailure).
 */
export async function withRequestErrors<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw await requestFailure(error);
  }
}

/**
 * What a failed request to the identity server becomes: its OAuth error or an untrusted answer is
 * final (an ID token of another issuer is `issuer_mismatch`, a configuration error); an
 * unreachable server may pass (`retryable`: try again later). A ProtocolError raised on the way
 * (the issuer's discovery, app-native authentication) is kept as it is.
 */
async function requestFailure(error: unknown): Promise<ProtocolError> {
  if (error instanceof ProtocolError && error.code !== "invalid_response") return error;
  const c = await classifyOAuthError(error);
  if (c.kind === "oauth") return new ProtocolError(c.error, c.description ?? "", { status: c.status });
  if (c.kind === "untrusted") return c.code === "issuer_mismatch" ? issuerMismatchError(c.message) : invalidResponse(c.message);
  return unreachable("unreachable", c.message);
}

/** An ID token of another issuer than the trusted one: the configuration is wrong, not the network. */
const issuerMismatchError = (message: string) => new ProtocolError("issuer_mismatch", message, { status: 502 });

/**
 * openid-client's DPoP option for one token request (RFC 9449 §5), plus the key the answer may be
 * bound to; nothing when the profile does not use DPoP for this grant.
 */
export async function dpopFor(configuration: client.Configuration, dpop: DPoPKeySource | undefined): Promise<{ options: client.DPoPOptions; key?: DPoPKey }> {
  if (!dpop) return { options: {} };
  const { key, handle } = await dpop.handleFor(configuration);
  return { options: { DPoP: handle }, key };
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
 * the server says access_denied for both (Auth0). With `dpop` the request carries a DPoP proof,
 * so that the on-behalf-of token is bound to the agent's key (RFC 9449 §5).
 */
export async function pollCibaGrant(
  configuration: client.Configuration | Promise<client.Configuration>,
  authReqId: string,
  options: { onDenied?: (description: string | undefined) => "denied" | "expired"; dpop?: DPoPKeySource } = {},
): Promise<CibaPollOutcome> {
  try {
    const config = await configuration;
    const dpop = await dpopFor(config, options.dpop);
    const response = await client.genericGrantRequest(config, CIBA_GRANT_TYPE, { auth_req_id: authReqId }, dpop.options);
    return { kind: "approved", token: toTokenResult(response, dpop.key) };
  } catch (error) {
    return toPollOutcome(await classifyOAuthError(error), options.onDenied);
  }
}

/** The acting party of an on-behalf-of token as RFC 8693 §4.1 names it: `act.sub`. */
export const actSubActor = (claims: TokenClaims): string | undefined => (typeof claims.act?.sub === "string" ? claims.act.sub : undefined);

/** The granted authorization_details: from the token response, else the token's claim. */
export const grantedDetails = (token: TokenResult): unknown[] | undefined => token.authorizationDetails ?? token.claims.authorization_details;

/**
 * The token as the agent keeps it. `dpop` is the key the request's proof was signed with: a
 * `token_type: DPoP` answer is bound to it (RFC 9449 §5); such an answer to a request without a
 * proof is refused, and a `Bearer` answer to one with a proof is a plain bearer token (the server
 * chose not to bind it).
 */
export function toTokenResult(response: client.TokenEndpointResponse, dpop?: DPoPKey): TokenResult {
  const bound = response.token_type.toLowerCase() === "dpop";
  if (bound && !dpop) throw invalidResponse("the server issued a DPoP token to a request without a DPoP proof");
  const claims = decodeTokenClaims(response.access_token);
  if (bound && claims.cnf?.jkt !== undefined && claims.cnf.jkt !== dpop!.thumbprint) {
    throw invalidResponse("the DPoP token is bound to another key than the one that signed the request's proof");
  }
  const expiresIn = typeof response.expires_in === "number" ? response.expires_in : undefined;
  const expiresAt = expiresIn !== undefined ? new Date(Date.now() + expiresIn * 1000) : claims.exp ? new Date(claims.exp * 1000) : new Date(Date.now() + 300_000);
  const details = (response as { authorization_details?: unknown }).authorization_details;
  return {
    accessToken: response.access_token,
    expiresAt,
    scopes: scopesOf(response.scope ?? claims.scope),
    claims,
    authorizationDetails: Array.isArray(details) ? details : undefined,
    ...(bound ? { dpop } : {}),
    ...(typeof response.refresh_token === "string" ? { refreshToken: response.refresh_token } : {}),
  };
}
