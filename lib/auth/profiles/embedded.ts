import "server-only";
import * as client from "openid-client";
import type { FetchLike } from "../app-fetch";
import { createDPoPKeySource } from "../dpop";
import { createConfigurationLoader } from "../oidc-config";
import { actSubActor, dpopFor, grantedDetails, pollCibaGrant, toAcknowledgement, toTokenResult, withRequestErrors } from "./common";
import { ACCESS_TOKEN_TYPE, AGENT_SCOPE, USER_SCOPE } from "../../protocol";
import { type CibaAcknowledgement, type CibaPollOutcome, type CibaRequest, type IdentityServerProfile, type MandateCibaRequest, type TokenResult } from "./types";

/**
 * The embedded authorization server's profile (AUTH_PROVIDER=embedded): standard OAuth and CIBA
 * through openid-client, the way a client talks to any certified OpenID Provider.
 *
 * - agent token: client credentials (RFC 6749 §4.4) with `resource` = the MCP server (RFC 8707),
 *   so `aud` is the resource the token is for;
 * - CIBA (OpenID CIBA Core 1.0, poll mode): login_hint, binding_message, authorization_details
 *   (RFC 9396) with the frozen order, the agent token as actor_token (RFC 8693 §2.1);
 * - OBO token: `sub` = the user, `act.sub` = the agent, the granted order in the token response
 *   and as a JWT claim;
 * - both tokens are DPoP-bound (RFC 9449 §5): the client-credentials request and every CIBA poll
 *   carry a proof signed with the agent's in-memory key, so each token's `cnf.jkt` names that key
 *   and /mcp refuses it without a fresh proof from the same key;
 * - ID tokens (the CIBA grant answers one, scope openid) are verified against the server's JWKS
 *   (../oidc-config.ts).
 */

export interface EmbeddedProfileOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  resource: string;
  loginHint: string;
  fetch: FetchLike;
  /** The embedded server may run on plain HTTP (a fenced development default). */
  allowHttp?: boolean;
}

export function createEmbeddedProfile(options: EmbeddedProfileOptions): IdentityServerProfile {
  const configuration = createConfigurationLoader({
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    fetch: options.fetch,
    allowHttp: options.allowHttp,
  });
  const dpop = createDPoPKeySource();

  return {
    name: "embedded",

    getAgentToken: () =>
      withRequestErrors(async () => {
        const config = await configuration();
        const proof = await dpopFor(config, dpop);
        const response = await client.clientCredentialsGrant(config, { scope: AGENT_SCOPE, resource: options.resource }, proof.options);
        return toTokenResult(response, proof.key);
      }),

    startCiba: (request: CibaRequest): Promise<CibaAcknowledgement> =>
      withRequestErrors(async () => toAcknowledgement(await client.initiateBackchannelAuthentication(await configuration(), cibaParameters(options, request)))),

    pollCiba: (authReqId: string): Promise<CibaPollOutcome> => pollCibaGrant(configuration(), authReqId, { dpop }),

    readActor: actSubActor,

    readGrantedOrder: grantedDetails,

    mandates: {
      start: (request: MandateCibaRequest): Promise<CibaAcknowledgement> =>
        withRequestErrors(async () => toAcknowledgement(await client.initiateBackchannelAuthentication(await configuration(), mandateParameters(options, request)))),
      draw: (refreshToken: string): Promise<TokenResult> =>
        withRequestErrors(async () => {
          const config = await configuration();
          const proof = await dpopFor(config, dpop);
          return toTokenResult(await client.refreshTokenGrant(config, refreshToken, { resource: options.resource }, proof.options), proof.key);
        }),
    },
  };
}

/**
 * A standing mandate's CIBA request: the same request as for an order, with the mandate as its
 * authorization_details and `offline_access`, so the grant yields a refresh token from which the
 * agent draws one short-lived token per trade until the mandate expires or Alice revokes it.
 */
export function mandateParameters(options: Pick<EmbeddedProfileOptions, "loginHint" | "resource">, request: MandateCibaRequest): Record<string, string> {
  return {
    scope: `${USER_SCOPE} offline_access`,
    login_hint: options.loginHint,
    binding_message: request.bindingMessage,
    authorization_details: JSON.stringify([request.mandate]),
    resource: options.resource,
    requested_expiry: String(request.requestedExpirySeconds),
    actor_token: request.actorToken,
    actor_token_type: ACCESS_TOKEN_TYPE,
  };
}

/** The backchannel authentication request's parameters (CIBA Core §7.1). */
export function cibaParameters(options: Pick<EmbeddedProfileOptions, "loginHint" | "resource">, request: CibaRequest): Record<string, string> {
  return {
    scope: USER_SCOPE,
    login_hint: options.loginHint,
    binding_message: request.bindingMessage,
    authorization_details: JSON.stringify([request.order]),
    resource: options.resource,
    requested_expiry: String(request.requestedExpirySeconds),
    actor_token: request.actorToken,
    actor_token_type: ACCESS_TOKEN_TYPE,
  };
}
