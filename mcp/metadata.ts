import type { AppConfig } from "../lib/config";
import { trustedIssuer } from "../lib/net/issuer-discovery";
import { SCOPE_READ, SCOPE_TRADE, STOCK_TRADE_MANDATE_TYPE, STOCK_TRADE_TYPE } from "../lib/protocol";
import { DPOP_ALGORITHMS } from "./dpop";

/** The scopes this resource server understands. */
export const SCOPES_SUPPORTED = ["openid", SCOPE_READ, SCOPE_TRADE];

/**
 * The RFC 9728 document. `resource` is byte-identical to the MCP URL clients use (MCP
 * authorization requires it); tokens are accepted in the Authorization header only. DPoP-bound
 * tokens are accepted with proofs signed by these algorithms, and not required: a bearer token
 * without `cnf` is still accepted (RFC 9728 §2 `dpop_bound_access_tokens_required`). The
 * `authorization_details` types it enforces (RFC 9396 §10, named in RFC 9728 §2): a single order
 * (`stock_trade`) and a standing mandate (`stock_trade_mandate`, mcp/standing-mandate.ts).
 */
export function protectedResourceMetadata(config: AppConfig, issuer = config.auth.issuer) {
  return {
    resource: config.mcp.resourceUrl,
    authorization_servers: [issuer],
    scopes_supported: SCOPES_SUPPORTED,
    bearer_methods_supported: ["header"],
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    dpop_bound_access_tokens_required: false,
    authorization_details_types_supported: [STOCK_TRADE_TYPE, STOCK_TRADE_MANDATE_TYPE],
    resource_name: "Sleeping Guardian broker (MCP)",
  };
}

/**
 * GET/HEAD handler body shared by the two well-known routes. Public data: any origin may read it.
 * The authorization server is named by the issuer the gate trusts (for WSO2 the one its discovery
 * document names); while that cannot be read, by the configured one, and the answer is not cached.
 */
export async function protectedResourceMetadataResponse(config: AppConfig): Promise<Response> {
  const issuer = await trustedIssuer(config.auth).catch(() => undefined);
  return Response.json(protectedResourceMetadata(config, issuer), {
    headers: { "Cache-Control": issuer ? "public, max-age=300" : "no-store", "Access-Control-Allow-Origin": "*" },
  });
}
