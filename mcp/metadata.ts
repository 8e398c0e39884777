import type { AppConfig } from "../lib/config";
import { SCOPE_READ, SCOPE_TRADE, STOCK_TRADE_TYPE } from "../lib/protocol";
import { DPOP_ALGORITHMS } from "./dpop";

/** The scopes this resource server understands. */
export const SCOPES_SUPPORTED = ["openid", SCOPE_READ, SCOPE_TRADE];

/**
 * The RFC 9728 document. `resource` is byte-identical to the MCP URL clients use (MCP
 * authorization requires it); tokens are accepted in the Authorization header only. DPoP-bound
 * tokens are accepted with proofs signed by these algorithms, and not required: a bearer token
 * without `cnf` is still accepted (RFC 9728 §2 `dpop_bound_access_tokens_required`).
 */
export function protectedResourceMetadata(config: AppConfig) {
  return {
    resource: config.mcp.resourceUrl,
    authorization_servers: [config.auth.issuer],
    scopes_supported: SCOPES_SUPPORTED,
    bearer_methods_supported: ["header"],
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    dpop_bound_access_tokens_required: false,
    authorization_details_types_supported: [STOCK_TRADE_TYPE],
    resource_name: "Sleeping Guardian broker (MCP)",
  };
}

/** GET/HEAD handler body shared by the two well-known routes. Public data: any origin may read it. */
export function protectedResourceMetadataResponse(config: AppConfig): Response {
  return Response.json(protectedResourceMetadata(config), {
    headers: { "Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*" },
  });
}
