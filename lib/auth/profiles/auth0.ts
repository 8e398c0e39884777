import "server-only";
import * as client from "openid-client";
import type { AppConfig } from "../../config";
import type { FetchLike } from "../app-fetch";
import { createDPoPKeySource } from "../dpop";
import type { TokenClaims } from "../types";
import { normalizeAuth0Detail, toAuth0AuthorizationDetail } from "../../orders/auth0-rar";
import { dpopFor, grantedDetails, pollCibaGrant, toAcknowledgement, toTokenResult, withRequestErrors } from "./common";
import { SCOPE_READ, USER_SCOPE } from "../../protocol";
import { createStaticConfiguration } from "./static-client";
import { type CibaAcknowledgement, type CibaPollOutcome, type CibaRequest, type IdentityServerProfile, type TokenResult } from "./types";

/**
 * Auth0 (AUTH_PROVIDER=auth0), as Auth0's Authentication API describes it (setup: docs/auth0.md):
 *
 * - agent token: client credentials (RFC 6749 §4.4) with `audience` = the API identifier and
 *   scope `stock:read`; `sub` = `<client_id>@clients`, `gty` = client-credentials;
 * - CIBA at https://{domain}/bc-authorize: login_hint in Auth0's `iss_sub` JSON format naming
 *   Alice's user id, a required binding_message (≤ 64 of letters, digits, space, `+-_.,:#`),
 *   requested_expiry, `audience`, and the order in Auth0's Guardian RAR schema
 *   (lib/orders/auth0-rar.ts). Auth0 has no actor_token: the acting agent is the client, named in
 *   `azp`;
 * - requested_expiry picks Auth0's channel: up to 300 s Guardian push, from 301 s email, which
 *   with the order as authorization_details needs the customized consent prompt (docs/auth0.md);
 * - polling at /oauth/token: `slow_down` comes with Retry-After and, in Auth0's CIBA guides, the
 *   new wait as `interval` in the body (the poller honours both); a denial and an expiry both
 *   arrive as `access_denied` ("The end-user denied the authorization request or it has been
 *   expired"), so the profile tells them apart by the request's known expiry;
 * - OBO token: `sub` = Alice, `azp` = the agent's client, the granted order in the token response
 *   and as the `authorization_details` claim, in the Guardian schema: mapped back here;
 * - DPoP (RFC 9449): Auth0 sender-constrains the grants its DPoP page lists, client credentials
 *   among them and CIBA not, so the agent-token request carries a proof (bound when the API's
 *   sender-constraining policy allows it, a bearer token otherwise) and the CIBA poll does not:
 *   the on-behalf-of token stays a bearer token at Auth0;
 * - ID tokens (the CIBA grant answers one) are verified against /.well-known/jwks.json.
 */
/** Auth0 has no `openid` for a client-credentials token: the agent asks for the read scope alone. */
export const AUTH0_AGENT_SCOPE = SCOPE_READ;

export interface Auth0ProfileOptions {
  /** `https://{domain}` (no trailing slash). */
  origin: string;
  clientId: string;
  clientSecret: string;
  clientAuth: "client_secret_post" | "client_secret_basic";
  /** The API identifier (MCP_AUDIENCE). */
  audience: string;
  /** Alice's Auth0 user id, e.g. `auth0|65f…` (INVESTOR_USER_ID). */
  userId: string;
  /** The <name> of the registered authorization details type (AUTH0_RAR_TYPE). */
  rarType: string;
  fetch: FetchLike;
  now?: () => number;
}

export function createAuth0Profile(o: Auth0ProfileOptions): IdentityServerProfile {
  const origin = o.origin.replace(/\/+$/, "");
  const now = o.now ?? Date.now;
  const configuration = createStaticConfiguration({
    issuer: `${origin}/`,
    tokenEndpoint: `${origin}/oauth/token`,
    backchannelEndpoint: `${origin}/bc-authorize`,
    jwksUri: `${origin}/.well-known/jwks.json`,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    clientAuth: o.clientAuth,
    fetch: o.fetch,
  });
  const dpop = createDPoPKeySource();
  /** When each request this process started runs out, to read Auth0's ambiguous access_denied. */
  const expiries = new Map<string, number>();

  /** access_denied after the request's expiry is an expiry; before it, Alice said no. */
  const deniedOrExpired = (authReqId: string) => (description: string | undefined): "denied" | "expired" => {
    if (description && /expired/i.test(description) && !/denied/i.test(description)) return "expired";
    const expiresAt = expiries.get(authReqId);
    return expiresAt !== undefined && now() >= expiresAt - EXPIRY_SLACK_MS ? "expired" : "denied";
  };

  return {
    name: "auth0",

    getAgentToken: (): Promise<TokenResult> =>
      withRequestErrors(async () => {
        const proof = await dpopFor(configuration, dpop);
        const response = await client.clientCredentialsGrant(configuration, { audience: o.audience, scope: AUTH0_AGENT_SCOPE }, proof.options);
        return toTokenResult(response, proof.key);
      }),

    startCiba: (request: CibaRequest): Promise<CibaAcknowledgement> =>
      withRequestErrors(async () => {
        const ack = await client.initiateBackchannelAuthentication(configuration, auth0CibaParameters({ ...o, origin }, request));
        expiries.set(ack.auth_req_id, now() + ack.expires_in * 1000);
        return toAcknowledgement(ack);
      }),

    async pollCiba(authReqId: string): Promise<CibaPollOutcome> {
      const outcome = await pollCibaGrant(configuration, authReqId, { onDenied: deniedOrExpired(authReqId) });
      // The request is over (approved, denied, expired, invalid): its expiry is no longer needed.
      if (outcome.kind !== "pending" && outcome.kind !== "slow_down" && outcome.kind !== "unreachable") expiries.delete(authReqId);
      return outcome;
    },

    // No `act` at Auth0: the acting agent is the client the token was issued to.
    readActor: (claims: TokenClaims) => claims.azp ?? claims.client_id,

    readGrantedOrder: (token: TokenResult) => {
      const granted = grantedDetails(token);
      return Array.isArray(granted) ? granted.map((entry) => normalizeAuth0Detail(entry, o.rarType)) : undefined;
    },
  };
}

/** Auth0 may answer access_denied for an expiry a moment before our clock says so. */
const EXPIRY_SLACK_MS = 2_000;

/** The /bc-authorize parameters (CIBA Core §7.1 as Auth0 takes them). */
export function auth0CibaParameters(o: Pick<Auth0ProfileOptions, "origin" | "audience" | "userId" | "rarType">, request: CibaRequest): Record<string, string> {
  return {
    scope: USER_SCOPE,
    audience: o.audience,
    login_hint: auth0LoginHint(o.origin, o.userId),
    binding_message: request.bindingMessage,
    requested_expiry: String(request.requestedExpirySeconds),
    authorization_details: JSON.stringify([toAuth0AuthorizationDetail(request.order, o.rarType)]),
  };
}

/** Auth0's login_hint: `{"format":"iss_sub","iss":"https://{domain}/","sub":"<user id>"}`. */
export function auth0LoginHint(origin: string, userId: string): string {
  return JSON.stringify({ format: "iss_sub", iss: `${origin.replace(/\/+$/, "")}/`, sub: userId });
}

/** The profile for the app's configuration (AUTH_PROVIDER=auth0). */
export function createAuth0ProfileFromConfig(config: AppConfig, options: { clientSecret: string; fetch: FetchLike }): IdentityServerProfile {
  const auth0 = config.auth0;
  if (!auth0) throw new Error("AUTH_PROVIDER=auth0 needs AUTH0_DOMAIN");
  return createAuth0Profile({
    origin: auth0.origin,
    clientId: config.auth.agentClientId,
    clientSecret: options.clientSecret,
    clientAuth: auth0.clientAuth,
    audience: config.auth.audience,
    userId: config.investor.userId,
    rarType: auth0.rarType,
    fetch: options.fetch,
  });
}
