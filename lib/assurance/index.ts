import "server-only";
import { createAppFetch, type FetchLike } from "../auth/app-fetch";
import { DPOP_ALG } from "../auth/dpop";
import { proofOfPossessionFor } from "../auth/profiles/proof-of-possession";
import type { TokenClaims } from "../auth/types";
import type { AppConfig } from "../config";
import { tenantEndpoints } from "../doctor/probes";
import { withCaFile } from "../net/ca-fetch";
import { auth0RarType } from "../orders/auth0-rar";
import { STOCK_TRADE_TYPE } from "../protocol";
import { deriveAssurance, type Assurance, type ServerMetadata } from "./derive";
import { readServerMetadata } from "./server-metadata";

export type { Assurance, Guarantee, GuaranteeId, GuaranteeState, GuaranteeTone, ServerMetadata } from "./derive";
export { metadataFromDiscovery } from "./server-metadata";

/**
 * The assurance in force for this configuration (derive.ts): the binding rule and the profile's
 * use of DPoP from the code and the configuration, the rest from the server's metadata and the
 * tokens the agent last obtained.
 */
export function assuranceFor(config: AppConfig, metadata: ServerMetadata, observed: { agentToken: TokenClaims | null; oboToken: TokenClaims | null }): Assurance {
  return deriveAssurance({
    provider: config.auth.provider,
    bindingRule: config.auth.binding,
    detailsType: config.auth0 ? auth0RarType(config.auth0.rarType) : STOCK_TRADE_TYPE,
    proofOfPossession: proofOfPossessionFor(config.auth.provider),
    dpopAlgorithm: DPOP_ALG,
    metadata,
    observed,
  });
}

/** The running app's assurance: the server's metadata as the app reaches it (cached), and the agent's tokens. */
export async function currentAssurance(config: AppConfig, observed: { agentToken: TokenClaims | null; oboToken: TokenClaims | null }, base: FetchLike = fetch): Promise<Assurance> {
  const tenantFetch = withCaFile(createAppFetch(config.publicUrl, config.agent.internalUrl, base), config.auth.caFile);
  return assuranceFor(config, await readServerMetadata(tenantEndpoints(config).discovery, tenantFetch), observed);
}
