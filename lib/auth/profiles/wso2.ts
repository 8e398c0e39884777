import "server-only";
import * as client from "openid-client";
import type { AppConfig } from "../../config";
import type { FetchLike } from "../app-fetch";
import { createDPoPKeySource } from "../dpop";
import { withCaFile } from "../../net/ca-fetch";
import { readDiscoveredIssuer } from "../../net/issuer-discovery";
import { actSubActor, dpopFor, grantedDetails, pollCibaGrant, toAcknowledgement, toTokenResult, withRequestErrors } from "./common";
import { ACCESS_TOKEN_TYPE, AGENT_SCOPE, USER_SCOPE } from "../../protocol";
import { createStaticConfiguration } from "./static-client";
import { type CibaAcknowledgement, type CibaPollOutcome, type CibaRequest, type IdentityServerProfile, type TokenResult } from "./types";
import { signInAgent } from "./wso2-app-native";

/**
 * WSO2 Identity Server / Asgardeo (AUTH_PROVIDER=wso2), as WSO2's documentation and its agent
 * tutorial describe them (setup: docs/wso2.md):
 *
 * - agent token: app-native authentication of the agent identity (wso2-app-native.ts), then the
 *   authorization code grant with PKCE: `sub` = agent id, `aut` = AGENT, `aud` = the client id;
 * - CIBA at {base}/oauth2/ciba with HTTP Basic client authentication: login_hint = Alice's
 *   username, binding_message, notification_channel, the agent token as actor_token; the server
 *   answers `interval: 2`, `expires_in: 120`;
 * - OBO token: `sub` = Alice, `act.sub` = agent, `aut` = APPLICATION_USER. WSO2's CIBA endpoint
 *   reads no authorization_details (identity-inbound-auth-oauth OAuth2CibaEndpoint
 *   getCibaAuthCodeRequestFromParams), so the order never travels in the token: the MCP server
 *   binds the trade to the approval recorded in the store ("recorded-approval" rule).
 * - Polling (CibaGrantHandler#validateGrant): expiry is `expired_token`; `slow_down` makes the
 *   poller wait longer; a redeemed id gives `invalid_grant`. A denied consent, a sign-in as another
 *   user than Alice and a failed sign-in all answer `access_denied` "User denied authentication"
 *   (CibaResponseTypeHandler marks the last two FAILED): the outcome says it is ambiguous.
 * - DPoP (RFC 9449): the code exchange and every CIBA poll carry a proof signed with the agent's
 *   in-memory key. An application whose access-token binding type is DPoP gets both tokens bound
 *   (`token_type: DPoP`, `cnf.jkt`; WSO2's DPoP connector then requires the proof on every token
 *   request of that client); any other binding type ignores the header and issues bearer tokens
 *   (identity-oauth-dpop OauthDPoPInterceptorHandlerProxy#onPreTokenIssue).
 * - ID tokens (the code exchange and the CIBA grant answer one) are verified against
 *   {base}/oauth2/jwks (static-client.ts) and the server's issuer: AUTH_ISSUER, else the one its
 *   discovery document at {base}/oauth2/token/.well-known/openid-configuration names
 *   (OAuth2Util.getIdTokenIssuer: the configured public URL, which need not be the base URL).
 *   The code exchange answers an ID token too, so a wrong issuer stops the agent at its own
 *   token, before an approval request could be spent on an answer the agent cannot accept.
 *
 * Organisations (`/t/{tenant}`, `/o/{org}`) are part of the base URL; every path is below it.
 */
export interface Wso2ProfileOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  agentId: string;
  agentSecret: string;
  redirectUri: string;
  /** Alice's username at the server (the tutorial uses her email address). */
  loginHint: string;
  notificationChannel: "email" | "sms" | "external";
  /** AUTH_ISSUER; unset: the issuer the server's discovery document names. */
  issuer?: string;
  fetch: FetchLike;
}

/** Where WSO2 serves its discovery document (OIDCDiscoveryEndpoint: {base}/oauth2/token/.well-known/openid-configuration). */
export const wso2DiscoveryUrl = (baseUrl: string) => `${baseUrl.replace(/\/+$/, "")}/oauth2/token/.well-known/openid-configuration`;

export function createWso2Profile(o: Wso2ProfileOptions): IdentityServerProfile {
  const base = o.baseUrl.replace(/\/+$/, "");
  let pending: Promise<client.Configuration> | undefined;
  /** The client configuration, once the issuer is known; a failed discovery is tried again next time. */
  const configuration = (): Promise<client.Configuration> => {
    pending ??= (o.issuer ? Promise.resolve(o.issuer) : readDiscoveredIssuer(wso2DiscoveryUrl(base), o.fetch)).then(
      (issuer) =>
        createStaticConfiguration({
          issuer,
          tokenEndpoint: `${base}/oauth2/token`,
          backchannelEndpoint: `${base}/oauth2/ciba`,
          jwksUri: `${base}/oauth2/jwks`,
          clientId: o.clientId,
          clientSecret: o.clientSecret,
          clientAuth: "client_secret_basic",
          fetch: o.fetch,
        }),
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    );
    return pending;
  };
  const dpop = createDPoPKeySource();

  return {
    name: "wso2",

    async getAgentToken(): Promise<TokenResult> {
      const config = await withRequestErrors(configuration);
      const { code, codeVerifier } = await signInAgent({
        baseUrl: base,
        clientId: o.clientId,
        clientSecret: o.clientSecret,
        redirectUri: o.redirectUri,
        scope: AGENT_SCOPE,
        agentId: o.agentId,
        agentSecret: o.agentSecret,
        fetch: o.fetch,
      });
      return withRequestErrors(async () => {
        const proof = await dpopFor(config, dpop);
        const response = await client.genericGrantRequest(config, "authorization_code", { code, redirect_uri: o.redirectUri, code_verifier: codeVerifier }, proof.options);
        return toTokenResult(response, proof.key);
      });
    },

    startCiba: (request: CibaRequest): Promise<CibaAcknowledgement> =>
      withRequestErrors(async () => toAcknowledgement(await client.initiateBackchannelAuthentication(await configuration(), wso2CibaParameters(o, request)))),

    async pollCiba(authReqId: string): Promise<CibaPollOutcome> {
      const outcome = await pollCibaGrant(configuration(), authReqId, { dpop });
      // CibaGrantHandler answers CONSENT_DENIED and FAILED (another user signed in, the sign-in
      // failed) alike: access_denied "User denied authentication".
      return outcome.kind === "denied" ? { ...outcome, alsoMeans: "failed_sign_in" } : outcome;
    },

    readActor: actSubActor,

    // WSO2 issues none; a token that did carry them is still checked against the order.
    readGrantedOrder: grantedDetails,
  };
}

/**
 * The backchannel authentication request as WSO2 takes it (CIBA Core §7.1 + actor_token): the
 * parameters its CIBA endpoint reads, and nothing else (no authorization_details).
 */
export function wso2CibaParameters(o: Pick<Wso2ProfileOptions, "loginHint" | "notificationChannel">, request: CibaRequest): Record<string, string> {
  return {
    scope: USER_SCOPE,
    login_hint: o.loginHint,
    binding_message: request.bindingMessage,
    notification_channel: o.notificationChannel,
    requested_expiry: String(request.requestedExpirySeconds),
    actor_token: request.actorToken,
    actor_token_type: ACCESS_TOKEN_TYPE,
  };
}

/** The profile for the app's configuration (AUTH_PROVIDER=wso2). */
export function createWso2ProfileFromConfig(config: AppConfig, options: { clientSecret: string; fetch: FetchLike }): IdentityServerProfile {
  const wso2 = config.wso2;
  if (!wso2) throw new Error("AUTH_PROVIDER=wso2 needs WSO2_BASE_URL");
  return createWso2Profile({
    baseUrl: wso2.baseUrl,
    clientId: config.auth.agentClientId,
    clientSecret: options.clientSecret,
    agentId: config.agent.id,
    agentSecret: wso2.agentSecret ?? "",
    redirectUri: wso2.redirectUri,
    loginHint: config.investor.email,
    notificationChannel: wso2.notificationChannel,
    issuer: config.auth.issuerDiscovery ? undefined : config.auth.issuer,
    fetch: withCaFile(options.fetch, config.auth.caFile),
  });
}
