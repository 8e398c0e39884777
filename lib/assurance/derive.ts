import type { ProofOfPossessionUse } from "../auth/profiles/proof-of-possession";
import type { TokenClaims } from "../auth/types";
import type { BindingRule } from "../orders/check";

/**
 * The assurance in force: which of the guarantees that bind a trade to Alice's approval hold in
 * this deployment, and on what basis. Three, as the dashboard and the doctor show them:
 *
 * - order-in-token: the approved order travels in the on-behalf-of token (`authorization_details`,
 *   RFC 9396) and the resource server checks every trade against it. It holds when the binding
 *   rule is "rar" (configuration: the broker then refuses a token without the order,
 *   lib/orders/check.ts); the authorization server's metadata can only add a caveat.
 * - recorded-approval: the order is bound through the approval the store recorded, with the
 *   `jti` of the one token its redemption produced (mcp/stored-order.ts). It holds when the
 *   binding rule is "recorded-approval".
 * - dpop: the token that trades is sender-constrained (RFC 9449): a stolen copy is useless. That
 *   takes three things, each read from where it is decided: the client sends a proof when it
 *   redeems the approval (the profile, proof-of-possession.ts), the server supports DPoP
 *   (`dpop_signing_alg_values_supported` in its metadata, RFC 9449 §5.1), and the server's policy
 *   binds this client's tokens, which only a token it issued shows (`cnf.jkt`, RFC 9449 §6.1).
 *
 * Never taken from a token what the configuration decides; a state the inputs cannot settle is
 * "unknown", never a guess. Pure: no I/O.
 */
export type GuaranteeId = "order-in-token" | "recorded-approval" | "dpop";
export type GuaranteeState = "holds" | "not-in-force" | "unknown";
/** How the state reads: a guarantee that does not hold is "weak" unless another one covers it. */
export type GuaranteeTone = "good" | "neutral" | "weak" | "unknown";

export interface Guarantee {
  id: GuaranteeId;
  state: GuaranteeState;
  tone: GuaranteeTone;
  title: string;
  /** One line: what holds, or what does not. */
  summary: string;
  /** The facts it rests on, each naming its source. */
  basis: string[];
}

export interface Assurance {
  provider: string;
  guarantees: Guarantee[];
}

/** What the authorization server's discovery document says, or why it could not be read. */
export type ServerMetadata =
  | { kind: "read"; authorizationDetailsTypes?: string[]; dpopAlgorithms?: string[] }
  | { kind: "unavailable"; reason: string };

export interface AssuranceInput {
  provider: string;
  /** config.auth.binding: the rule the resource server applies. */
  bindingRule: BindingRule;
  /** The authorization_details type the order is sent and granted as. */
  detailsType: string;
  proofOfPossession: ProofOfPossessionUse;
  /** The algorithm the agent's DPoP key signs with (lib/auth/dpop.ts). */
  dpopAlgorithm: string;
  metadata: ServerMetadata;
  /** Claims of the last tokens the agent obtained (none yet: null). */
  observed: { agentToken: TokenClaims | null; oboToken: TokenClaims | null };
}

export function deriveAssurance(input: AssuranceInput): Assurance {
  const orderInToken = orderInTokenGuarantee(input);
  return {
    provider: input.provider,
    guarantees: [orderInToken, recordedApprovalGuarantee(input, orderInToken.state === "holds"), dpopGuarantee(input)],
  };
}

const ORDER_IN_TOKEN = "Order carried in the token";
const RECORDED_APPROVAL = "Order bound to the recorded approval";
const DPOP = "Trade token bound to the agent's key (DPoP)";

function orderInTokenGuarantee({ bindingRule, detailsType, metadata, observed }: AssuranceInput): Guarantee {
  const advertised = metadata.kind === "read" ? metadata.authorizationDetailsTypes : undefined;
  const serverFact =
    metadata.kind === "unavailable"
      ? `Server metadata unavailable (${metadata.reason}).`
      : advertised === undefined
        ? "The server does not advertise authorization_details types (authorization_details_types_supported)."
        : advertised.includes(detailsType)
          ? `The server advertises ${detailsType} (authorization_details_types_supported).`
          : `The server advertises ${advertised.join(", ") || "no types"} but not ${detailsType}: it may refuse the order.`;
  if (bindingRule !== "rar") {
    return {
      id: "order-in-token",
      state: "not-in-force",
      tone: "weak",
      title: ORDER_IN_TOKEN,
      summary: "The token does not carry the order; the broker binds it through the recorded approval instead.",
      basis: ["Configuration: binding rule recorded-approval.", serverFact],
    };
  }
  const last = observed.oboToken;
  const basis = ["Configuration: binding rule rar: the broker refuses a trade whose token lacks the approved order.", serverFact];
  if (last && !last.opaque) {
    basis.push(last.authorization_details?.length ? "The last on-behalf-of token carried the order." : "The last on-behalf-of token carried no order: the agent did not trade with it.");
  }
  return { id: "order-in-token", state: "holds", tone: "good", title: ORDER_IN_TOKEN, summary: "The approved order travels in the token and the broker checks every trade against it.", basis };
}

function recordedApprovalGuarantee({ bindingRule, observed }: AssuranceInput, orderInTokenHolds: boolean): Guarantee {
  if (bindingRule !== "recorded-approval") {
    return {
      id: "recorded-approval",
      state: "not-in-force",
      tone: orderInTokenHolds ? "neutral" : "weak",
      title: RECORDED_APPROVAL,
      summary: "Not needed: the order travels in the token. An order the store has closed still never executes.",
      basis: ["Configuration: binding rule rar."],
    };
  }
  const basis = ["Configuration: binding rule recorded-approval: only an approved order recorded for the token's user, with that token's jti, executes, once."];
  const last = observed.oboToken;
  if (last && !last.opaque) basis.push(last.jti ? "The last on-behalf-of token had a jti to record." : "The last on-behalf-of token had no jti: it could not be bound, and the agent did not trade with it.");
  return { id: "recorded-approval", state: "holds", tone: "good", title: RECORDED_APPROVAL, summary: "The broker executes only the order Alice approved, with the one token recorded for that approval.", basis };
}

function dpopGuarantee({ proofOfPossession, metadata, dpopAlgorithm, observed }: AssuranceInput): Guarantee {
  const weak = (summary: string, basis: string[]): Guarantee => ({ id: "dpop", state: "not-in-force", tone: "weak", title: DPOP, summary, basis });
  const holds = (summary: string, basis: string[]): Guarantee => ({ id: "dpop", state: "holds", tone: "good", title: DPOP, summary, basis });
  if (!proofOfPossession.onBehalfOf) {
    return weak("The trade token is a bearer token: whoever holds it could use it until it is spent or expires.", [`Client: ${proofOfPossession.reason ?? "the redemption of the approval carries no DPoP proof"}.`]);
  }
  const clientFact = "Client: the redemption of the approval carries a DPoP proof.";
  const algs = metadata.kind === "read" ? metadata.dpopAlgorithms : undefined;
  const serverFact =
    metadata.kind === "unavailable"
      ? `Server metadata unavailable (${metadata.reason}).`
      : algs === undefined
        ? "The server advertises no dpop_signing_alg_values_supported."
        : algs.includes(dpopAlgorithm)
          ? `The server advertises DPoP (${dpopAlgorithm} among dpop_signing_alg_values_supported).`
          : `The server's dpop_signing_alg_values_supported (${algs.join(", ") || "none"}) lacks the agent's ${dpopAlgorithm}.`;
  // A token the server issued is its policy in action, whatever its metadata says.
  const bound = (claims: TokenClaims | null) => (claims && !claims.opaque ? Boolean(claims.cnf?.jkt) : undefined);
  const obo = bound(observed.oboToken);
  if (obo !== undefined) {
    return obo
      ? holds("The trade token is bound to the agent's key: a stolen copy is useless.", [clientFact, serverFact, "The last on-behalf-of token is bound (cnf.jkt)."])
      : weak("The server issued the trade token unbound: it is a bearer token.", [clientFact, serverFact, "The last on-behalf-of token has no cnf.jkt."]);
  }
  const agent = proofOfPossession.agentToken ? bound(observed.agentToken) : undefined;
  if (agent !== undefined) {
    // The same server, client and key: its policy for the agent token is its policy for this client.
    return agent
      ? holds("The trade token will be bound to the agent's key: a stolen copy is useless.", [clientFact, serverFact, "The agent token, requested the same way, is bound (cnf.jkt)."])
      : weak("The server does not bind this client's tokens: the trade token will be a bearer token.", [clientFact, serverFact, "The agent token came back unbound although its request carried a proof."]);
  }
  if (metadata.kind === "read" && algs === undefined) return weak("The server does not offer DPoP: the trade token will be a bearer token.", [clientFact, serverFact]);
  if (algs !== undefined && !algs.includes(dpopAlgorithm)) return weak(`The server does not accept the agent's ${dpopAlgorithm} proofs: the trade token will be a bearer token.`, [clientFact, serverFact]);
  return {
    id: "dpop",
    state: "unknown",
    tone: "unknown",
    title: DPOP,
    summary: "Not known yet: the server's policy shows in the first token it issues.",
    basis: [clientFact, serverFact, "No token issued yet."],
  };
}
