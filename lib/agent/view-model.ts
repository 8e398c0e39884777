import "server-only";
import { holdsKillSwitch, type AppConfig } from "../config";
import type { Queryable } from "../store/db";
import type { Quote } from "./mcp-client";
import type { ModelChoice } from "./models/select";
import { getOrder } from "../store/orders";
import { readAgentRevocation } from "../store/agent-revocations";
import { findApprovalForOrder, type AgentRow } from "./repository";
import type { MandateInForce } from "./settings";
import type { AgentView } from "./view";

/** Builds GET /api/agent's answer from the persisted state. Decoded claims only, never tokens. */
export async function buildView(input: {
  db: Queryable;
  config: AppConfig;
  row: AgentRow;
  mandate: MandateInForce;
  paused: boolean;
  running: boolean;
  model: ModelChoice | null;
  lastQuote?: Quote;
  now: Date;
}): Promise<AgentView> {
  const { db, config, row, mandate } = input;
  const [order, approval, revocation] = await Promise.all([
    row.orderId ? getOrder(db, row.orderId) : undefined,
    row.orderId ? findApprovalForOrder(db, row.orderId) : undefined,
    readAgentRevocation(db, config.agent.id),
  ]);
  return {
    enabled: config.agent.enabled,
    running: input.running && revocation?.status !== "revoked",
    revocation: revocation
      ? {
          status: revocation.status,
          reason: revocation.reason,
          revokedAt: revocation.revokedAt.toISOString(),
          completed: revocation.completedAt !== null,
          reenabledAt: revocation.reenabledAt?.toISOString() ?? null,
        }
      : null,
    owner: null,
    holdsKillSwitch: holdsKillSwitch(config),
    state: row.state,
    paused: input.paused,
    reason: row.reason,
    model: input.model ? { label: input.model.label, kind: input.model.kind } : null,
    mandate,
    cooldownUntil: row.cooldownUntil && row.cooldownUntil > input.now ? row.cooldownUntil.toISOString() : null,
    armed: row.armed,
    lastPrice: input.lastQuote ? { priceCents: input.lastQuote.priceCents, at: input.lastQuote.at } : null,
    order: order
      ? {
          orderId: order.orderId,
          symbol: order.detail.symbol,
          side: order.detail.side,
          quantity: order.detail.quantity,
          limitPrice: order.detail.limit_price,
          maxNotional: order.detail.max_notional,
          expiresAt: order.detail.expires_at,
          status: order.status,
          statusReason: order.statusReason,
          tradeId: order.tradeId,
          createdAt: order.createdAt.toISOString(),
        }
      : null,
    approval: approval
      ? {
          bindingMessage: approval.bindingMessage,
          status: approval.status,
          createdAt: approval.createdAt.toISOString(),
          expiresAt: approval.expiresAt.toISOString(),
          intervalSeconds: approval.intervalSeconds,
          lastError: approval.lastError,
          decidedAt: approval.decidedAt?.toISOString() ?? null,
        }
      : null,
    tokens: { agent: row.agentTokenClaims, obo: row.oboTokenClaims },
    authProvider: config.auth.provider,
    binding: config.auth.binding,
    investor: { name: config.investor.name, email: config.investor.email, userId: config.investor.userId },
    agent: { id: config.agent.id, name: config.agent.name },
    updatedAt: row.updatedAt.toISOString(),
    serverTime: input.now.toISOString(),
  };
}
