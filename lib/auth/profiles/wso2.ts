import "server-only";
import { decodeJwt } from "jose";
import * as client from "openid-client";
import type { AppConfig } from "../../config";
import type { FetchLike } from "../app-fetch";
import { createDPoPKeySource } from "../dpop";
import { withCaFile } from "../../net/ca-fetch";
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
 * - OBO token: `sub` = Alice, `act.sub` = agent, `aut` = APPLICATION_USER. WSO2 does not issue
 *   authorization_details unless configured (WSO2_AUTHORIZATION_DETAILS): without them the MCP
 *   server binds the trade to the approval recorded in the store ("recorded-approval" rule).
 * - Expiry is `expired_token`; `slow_down` makes the poller wait longer; a redeemed id gives
 *   `invalid_request`.
 * - DPoP (RFC 9449): the code exchange and every CIBA poll carry a proof signed with the agent's
 *   in-memory key. An application whose access-token binding type is DPoP gets both tokens bound
 *   (`token_type: DPoP`, `cnf.jkt`; WSO2's DPoP connector then requires the proof on every token
 *   request of that client); any other binding type ignores the header and issues bearer tokens
 *   (identity-oauth-dpop OauthDPoPInterceptorHandlerProxy#onPreTokenIssue).
 * - ID tokens (the code exchange and the CIBA grant answer one) are verified against
 *   {base}/oauth2/jwks (static-client.ts).
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
  investorUserId: string;
  notificationChannel: "email" | "sms" | "external";
  /** Send the order as authorization_details (servers configured for RAR). */
  authorizationDetails: boolean;
  fetch: FetchLike;
  /** Told once when the agent's owner is not the investor (the server will refuse). */
  onWarning?: (message: string) => void;
}

export function createWso2Profile(o: Wso2ProfileOptions): IdentityServerProfile {
  const base = o.baseUrl.replace(/\/+$/, "");
  const configuration = createStaticConfiguration({
    issuer: `${base}/oauth2/token`,
    tokenEndpoint: `${base}/oauth2/token`,
    backchannelEndpoint: `${base}/oauth2/ciba`,
    jwksUri: `${base}/oauth2/jwks`,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    clientAuth: "client_secret_basic",
    fetch: o.fetch,
  });
  const dpop = createDPoPKeySource();
  let warnedOwner = false;

  return {
    name: "wso2",

    async getAgentToken(): Promise<TokenResult> {
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
        const proof = await dpopFor(configuration, dpop);
        const response = await client.genericGrantRequest(configuration, "authorization_code", { code, redirect_uri: o.redirectUri, code_verifier: codeVerifier }, proof.options);
        return toTokenResult(response, proof.key);
      });
    },

    async startCiba(request: CibaRequest): Promise<CibaAcknowledgement> {
      const owner = agentOwnerMismatch(request.actorToken, o.investorUserId);
      if (owner && !warnedOwner) {
        warnedOwner = true;
        o.onWarning?.(`The agent belongs to user ${owner}, not to INVESTOR_USER_ID ${o.investorUserId}: WSO2 accepts approval requests only for the agent's owner.`);
      }
      return withRequestErrors(async () => toAcknowledgement(await client.initiateBackchannelAuthentication(configuration, wso2CibaParameters(o, request))));
    },

    pollCiba: (authReqId: string): Promise<CibaPollOutcome> => pollCibaGrant(configuration, authReqId, { dpop }),

    readActor: actSubActor,

    // Undefined when WSO2 issued none: the MCP server then applies the "recorded-approval" rule.
    readGrantedOrder: grantedDetails,
  };
}

/** The backchannel authentication request as WSO2 takes it (CIBA Core §7.1 + actor_token). */
export function wso2CibaParameters(o: Pick<Wso2ProfileOptions, "loginHint" | "notificationChannel" | "authorizationDetails">, request: CibaRequest): Record<string, string> {
  return {
    scope: USER_SCOPE,
    login_hint: o.loginHint,
    binding_message: request.bindingMessage,
    notification_channel: o.notificationChannel,
    requested_expiry: String(request.requestedExpirySeconds),
    actor_token: request.actorToken,
    actor_token_type: ACCESS_TOKEN_TYPE,
    ...(o.authorizationDetails ? { authorization_details: JSON.stringify([request.order]) } : {}),
  };
}

/**
 * WSO2 binds an agent to its owner: when the agent token carries `agent_owner`
 * (`<userId>` or `<userId>@<tenant>`), the server accepts CIBA requests only for that user.
 * Returns the owner when it is not `investorUserId`, else undefined.
 */
export function agentOwnerMismatch(agentToken: string, investorUserId: string): string | undefined {
  let owner: unknown;
  try {
    owner = decodeJwt(agentToken).agent_owner;
  } catch {
    return undefined;
  }
  if (typeof owner !== "string" || owner === "") return undefined;
  const id = owner.includes("@") ? owner.slice(0, owner.lastIndexOf("@")) : owner;
  return id.toLowerCase() === investorUserId.toLowerCase() || owner.toLowerCase() === investorUserId.toLowerCase() ? undefined : owner;
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
    investorUserId: config.investor.userId,
    notificationChannel: wso2.notificationChannel,
    authorizationDetails: wso2.authorizationDetails,
    fetch: withCaFile(options.fetch, config.auth.caFile),
    onWarning: (message) => console.warn(`[wso2] ${message}`),
  });
}
