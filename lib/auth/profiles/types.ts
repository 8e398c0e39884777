import type { StockTradeMandateDetail } from "../../standing-mandate/mandate";
import type { StockTradeDetail } from "../../orders/order";
import type { DPoPKey } from "../dpop";
import type { TokenClaims } from "../types";

/**
 * An identity-server profile: how the agent talks to one kind of identity server. The agent loop only
 * ever calls these five things, so the embedded server, WSO2 Identity Server and Auth0 differ in
 * one file each (token acquisition, CIBA parameters, where the actor and the granted order sit
 * in the token), never in the loop.
 */
export type IdentityServerKind = "embedded" | "wso2" | "auth0";

/** An access token and what the agent needs to know about it. `accessToken` never leaves memory. */
export interface TokenResult {
  accessToken: string;
  expiresAt: Date;
  /** Granted scopes (the token response's `scope`, else the JWT claim). */
  scopes: string[];
  claims: TokenClaims;
  /** `authorization_details` from the token response (RFC 9396 §7), if the server returned them. */
  authorizationDetails?: unknown[];
  /**
   * The key the token is bound to, present exactly when the server answered `token_type: DPoP`
   * (RFC 9449 §5): the token is then presented as `Authorization: DPoP` with a fresh proof signed
   * by this key on every request. Absent: a bearer token (RFC 6750).
   */
  dpop?: DPoPKey;
  /** A refresh token, which the embedded server issues only for a standing mandate's grant. Memory only. */
  refreshToken?: string;
}

/** What the agent asks the user to grant as a standing mandate (CIBA with a stock_trade_mandate detail). */
export interface MandateCibaRequest {
  mandate: StockTradeMandateDetail;
  bindingMessage: string;
  actorToken: string;
  requestedExpirySeconds: number;
}

/** What the agent asks the user to approve (OpenID CIBA Core §7.1). */
export interface CibaRequest {
  order: StockTradeDetail;
  bindingMessage: string;
  /** The agent's own token, sent as actor_token (RFC 8693 §2.1) so the OBO token names the agent. */
  actorToken: string;
  requestedExpirySeconds: number;
}

/** The acknowledgement (CIBA Core §7.3). `interval` is absent when the server did not send one. */
export interface CibaAcknowledgement {
  authReqId: string;
  expiresIn: number;
  interval?: number;
}

/** One poll of the token endpoint (CIBA Core §10.1, §11), classified. */
export type CibaPollOutcome =
  | { kind: "approved"; token: TokenResult }
  | { kind: "pending" }
  /** CIBA Core §11; the wait a server names, in a Retry-After header or an `interval` in the body (Auth0). */
  | { kind: "slow_down"; retryAfterSeconds?: number; intervalSeconds?: number }
  /**
   * The server ended the request as denied. `alsoMeans: "failed_sign_in"`: its answer is the same
   * when the approver signed in as another user or failed to sign in (WSO2), so it does not show
   * that the user said no.
   */
  | { kind: "denied"; error: string; description?: string; alsoMeans?: "failed_sign_in" }
  | { kind: "expired"; error: string; description?: string }
  | { kind: "invalid"; error: string; description?: string }
  /** Network failure, timeout or 5xx: the request may still be alive; keep it and back off. */
  | { kind: "unreachable"; message: string };

export interface IdentityServerProfile {
  readonly name: IdentityServerKind;
  /**
   * The agent's own token: `sub` = agent, scope `openid stock:read`, audience = the MCP server.
   * Rejects with a ProtocolError (lib/errors.ts): the server's OAuth error, `invalid_response`,
   * or `unreachable` with `retryable` set.
   */
  getAgentToken(): Promise<TokenResult>;
  /** Sends the CIBA request; rejects like getAgentToken. Nothing is pending after a rejection. */
  startCiba(request: CibaRequest): Promise<CibaAcknowledgement>;
  pollCiba(authReqId: string): Promise<CibaPollOutcome>;
  /** The acting agent of an OBO token (RFC 8693 `act.sub`; Auth0 names it in `azp`). */
  readActor(claims: TokenClaims): string | undefined;
  /** The order(s) the server granted: the token response's authorization_details, else the claim. */
  readGrantedOrder(token: TokenResult): unknown[] | undefined;
  /**
   * A standing mandate, where the server can issue one (the embedded server; WSO2's CIBA endpoint
   * reads no authorization_details, Auth0 puts no `act` in its tokens and has no standing RAR
   * grant): asked for with CIBA (the result is polled with pollCiba), then drawn on with the
   * grant's refresh token for one short-lived access token per trade. Absent: per-order approval only.
   */
  readonly mandates?: {
    start(request: MandateCibaRequest): Promise<CibaAcknowledgement>;
    draw(refreshToken: string): Promise<TokenResult>;
  };
}

