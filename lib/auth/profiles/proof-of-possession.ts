import type { IdentityServerKind } from "./types";

/**
 * Which of a profile's token requests carry a DPoP proof (RFC 9449 §5), and so which tokens the
 * server can bind to the agent's key. This is the client's own behaviour, which no server
 * metadata can tell; whether the server then binds is its policy (lib/assurance/derive.ts reads
 * that from its metadata and the tokens it issued).
 *
 * - embedded (embedded.ts): the client-credentials request and every CIBA poll;
 * - WSO2 (wso2.ts): the code exchange of app-native authentication and every CIBA poll;
 * - Auth0 (auth0.ts): the client-credentials request only. Auth0's DPoP page lists the grant
 *   types it sender-constrains, and the CIBA grant is not among them
 *   (https://auth0.com/docs/secure/sender-constraining/demonstrating-proof-of-possession-dpop,
 *   "Supported application grant types"): the poll carries no proof.
 */
export interface ProofOfPossessionUse {
  /** The agent's own token request carries a proof. */
  agentToken: boolean;
  /** The CIBA poll that redeems Alice's approval carries a proof. */
  onBehalfOf: boolean;
  /** Why, when the redemption carries none. */
  reason?: string;
}

const USE: Record<IdentityServerKind, ProofOfPossessionUse> = {
  embedded: { agentToken: true, onBehalfOf: true },
  wso2: { agentToken: true, onBehalfOf: true },
  auth0: { agentToken: true, onBehalfOf: false, reason: "Auth0 does not sender-constrain the CIBA grant, so the poll carries no DPoP proof" },
};

export function proofOfPossessionFor(kind: IdentityServerKind): ProofOfPossessionUse {
  return USE[kind];
}
