import "server-only";
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import type { AppConfig } from "../config";
import { AGENT_SCOPE, CIBA_GRANT_TYPE, SCOPE_READ, SCOPE_TRADE, USER_SCOPE } from "../protocol";

/**
 * The one protected resource this server issues tokens for: the MCP server (RFC 8707 resource
 * indicator = its URL). Tokens for it are JWTs (RFC 9068) with `aud` = that resource.
 *
 * Scopes depend on who the token is for. An agent alone (client credentials) may only read; the
 * trade scope exists only in tokens the user approved (CIBA) or narrowed from those (token
 * exchange). Asking for stock:trade with client credentials is refused outright rather than
 * silently dropped, so a misconfigured agent learns why. A client that cannot ask the user per
 * order (no CIBA: an MCP host in the authorization code flow) is a reader: the resource offers
 * it stock:read alone, whatever it asks for, so no consent can grant it more.
 */
export const AGENT_TOKEN_TTL_SECONDS = 600;

export interface ResourcePolicy {
  oboTtlSeconds: number;
  defaultResource(ctx: KoaContextWithOIDC, client: unknown, oneOf?: string[]): Promise<string | string[]>;
  getResourceServerInfo(ctx: KoaContextWithOIDC, resourceIndicator: string): Promise<ReturnType<ResourcePolicy["info"]>>;
  info(kind: "agent" | "user" | "reader"): {
    scope: string;
    audience: string;
    accessTokenTTL: number;
    accessTokenFormat: "jwt";
    jwt: { sign: { alg: "RS256" } };
  };
  /** The resource a token-exchange request targets (resource / audience), default the MCP server. */
  resolveTarget(values: Array<string | undefined>): string;
}

export function createResourcePolicy(config: AppConfig): ResourcePolicy {
  const resourceUrl = config.mcp.resourceUrl;
  const known = new Set([resourceUrl, config.auth.audience]);
  const policy: ResourcePolicy = {
    oboTtlSeconds: config.idp.oboTokenTtlSeconds,
    async defaultResource(ctx, _client, oneOf) {
      // The dashboard signs Alice in and needs no resource: its access token is for userinfo only.
      if (ctx.oidc?.client?.clientId === config.signIn.clientId) return undefined as never;
      return oneOf ?? resourceUrl;
    },
    async getResourceServerInfo(ctx, resourceIndicator) {
      if (resourceIndicator !== resourceUrl) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
      if (ctx.oidc?.client?.clientId === config.signIn.clientId) throw new errors.InvalidTarget("the dashboard's sign-in grants no resource");
      const params = (ctx.oidc?.params ?? {}) as Record<string, unknown>;
      if (params.grant_type === "client_credentials") {
        const requested = String(params.scope ?? "").split(" ");
        if (requested.includes(SCOPE_TRADE)) {
          throw new errors.InvalidScope(`${SCOPE_TRADE} is never granted by client credentials; ask the user with CIBA`, SCOPE_TRADE);
        }
        return policy.info("agent");
      }
      const client = ctx.oidc?.client as { grantTypeAllowed?(type: string): boolean } | undefined;
      if (!client?.grantTypeAllowed?.(CIBA_GRANT_TYPE)) return policy.info("reader");
      return policy.info("user");
    },
    info(kind) {
      return {
        scope: kind === "agent" ? AGENT_SCOPE : kind === "reader" ? SCOPE_READ : USER_SCOPE,
        audience: config.auth.audience,
        accessTokenTTL: kind === "user" ? config.idp.oboTokenTtlSeconds : AGENT_TOKEN_TTL_SECONDS,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      };
    },
    resolveTarget(values) {
      const given = values.flatMap((v) => (v === undefined ? [] : [v]));
      for (const value of given) {
        if (!known.has(value)) throw new errors.InvalidTarget(`unknown resource or audience ${value}`);
      }
      return resourceUrl;
    },
  };
  return policy;
}
