import "server-only";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { AppConfig } from "../config";
import type { Queryable } from "../store/db";
import { auditTokenIssued } from "./audit";
import { findCibaRequestByGrant } from "./ciba-requests";

/**
 * The claims this server adds to its JWT access tokens (RFC 9068), beyond oidc-provider's own
 * (iss, sub, aud, exp, iat, jti, client_id, scope, authorization_details):
 *
 * - agent token (client credentials): `sub` = the agent's id instead of the client id, and
 *   `aut: "AGENT"`, as WSO2 marks agent identities;
 * - OBO token (CIBA, token exchange): `act: {sub: agent}` (RFC 8693 §4.1) and
 *   `aut: "APPLICATION_USER"`.
 */
type TokenLike = { kind: string; clientId?: string; gty?: string; grantId?: string; jti?: string; scope?: string };

/** Claims decided by the token-exchange handler for a token it is about to save. */
const presetClaims = new WeakMap<object, Record<string, unknown>>();

export function presetTokenClaims(token: object, claims: Record<string, unknown>): void {
  presetClaims.set(token, claims);
}

export function createExtraTokenClaims(config: AppConfig, db: Queryable) {
  return async (_ctx: KoaContextWithOIDC, token: TokenLike): Promise<Record<string, unknown> | undefined> => {
    const preset = presetClaims.get(token);
    if (preset) return preset;
    if (token.kind === "ClientCredentials") {
      return { aut: token.clientId === config.auth.agentClientId ? "AGENT" : "APPLICATION" };
    }
    // "ciba", or "ciba refresh_token" for a token drawn from a mandate's grant with its refresh token.
    if (token.kind === "AccessToken" && token.gty?.split(" ")[0] === "ciba") {
      const request = token.grantId ? await findCibaRequestByGrant(db, token.grantId) : undefined;
      const actor = request?.actorSub ?? undefined;
      // Called once per token, as it is issued: the audit record names it by its jti.
      if (request) await auditTokenIssued(db, request, token.jti, token.scope);
      return { aut: "APPLICATION_USER", ...(actor ? { act: { sub: actor } } : {}) };
    }
    return undefined;
  };
}

/**
 * oidc-provider sets `sub` of a client-credentials token to the client id. The agent has an
 * identity of its own (AGENT_ID), which is what resource servers and audit logs should name.
 */
export function createJwtCustomizer(config: AppConfig) {
  return async (_ctx: KoaContextWithOIDC, token: TokenLike, jwt: { payload: Record<string, unknown> }) => {
    if (token.kind === "ClientCredentials" && token.clientId === config.auth.agentClientId) {
      jwt.payload.sub = config.agent.id;
    }
  };
}
