import type { TokenClaims } from "../auth/types";
import type { AgentState } from "./state-machine";

/**
 * What GET /api/agent returns and the dashboard renders. Public data only: decoded claims for
 * the token inspector, never a token; the order and the binding message Alice also sees.
 */
export interface AgentOrderView {
  orderId: string;
  symbol: string;
  side: "buy" | "sell";
  quantity: number;
  limitPrice: string;
  maxNotional: string;
  expiresAt: string;
  status: string;
  statusReason: string | null;
  tradeId: number | null;
  createdAt: string;
}

export interface AgentApprovalView {
  bindingMessage: string;
  /** pending | approved | denied | expired | failed | cancelled */
  status: string;
  createdAt: string;
  expiresAt: string;
  intervalSeconds: number;
  lastError: string | null;
  decidedAt: string | null;
}

/** The kill switch's record: revoked (and why), or re-enabled after a revocation. */
export interface AgentRevocationView {
  status: "revoked" | "enabled";
  reason: string;
  revokedAt: string;
  /** False while the revocation's steps are still running (or were interrupted by a crash). */
  completed: boolean;
  reenabledAt: string | null;
}

export interface AgentView {
  enabled: boolean;
  running: boolean;
  /** Null when the agent was never revoked. */
  revocation: AgentRevocationView | null;
  /** The instance that runs the agent (several instances on one PostgreSQL), or null when none does. */
  owner: string | null;
  /**
   * Whether this investor may pull the kill switch (revoke / re-enable): the agent's OAuth client
   * acts for every investor, so only the first investor, who registered it, holds it.
   */
  holdsKillSwitch: boolean;
  state: AgentState;
  paused: boolean;
  reason: string | null;
  model: { label: string; kind: "rules" | "gemini" | "openai-compatible" } | null;
  mandate: { symbol: string; thresholdCents: number; budgetCents: number; maxQuantity: number; edited: boolean };
  cooldownUntil: string | null;
  armed: boolean;
  lastPrice: { priceCents: number; at: string } | null;
  order: AgentOrderView | null;
  approval: AgentApprovalView | null;
  tokens: { agent: TokenClaims | null; obo: TokenClaims | null };
  authProvider: string;
  /** How the broker binds a trade to the approval: the order in the token, or the stored approval. */
  binding: "rar" | "recorded-approval";
  investor: { name: string; email: string; userId: string };
  agent: { id: string; name: string };
  updatedAt: string;
  serverTime: string;
}
