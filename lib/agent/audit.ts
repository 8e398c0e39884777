import "server-only";
import { appendAudit } from "../audit/chain";
import type { Db, Queryable } from "../store/db";

/**
 * The agent's own decisions in the audit chain: the order it froze, the approval it asked for, the
 * answer it got and the token it received (by `jti`, never the token). Each names the user the
 * agent acts for (`sub`) and the agent as the actor (`act`), as the on-behalf-of token will.
 */
export type AgentAuditEvent =
  | { event: "order.frozen"; decision: "frozen"; reason: string }
  | { event: "challenge.rejected"; decision: "rejected"; reason: string }
  | { event: "ciba.requested"; decision: "requested"; reason: string }
  | { event: "ciba.approved"; decision: "approved"; reason: string }
  | { event: "ciba.denied"; decision: "denied"; reason: string }
  | { event: "ciba.expired"; decision: "expired"; reason: string }
  | { event: "ciba.failed"; decision: "failed"; reason: string }
  | { event: "token.received"; decision: "accepted" | "rejected"; reason: string; jti: string | null; scopes: string; sub?: string | null; act?: unknown };

export interface AgentAuditContext {
  db: Db;
  config: { investor: { userId: string }; agent: { id: string } };
}

/** In `tx` when given, so the record commits with the decision it records. */
export async function auditAgentDecision(ctx: AgentAuditContext, orderId: string, e: AgentAuditEvent, tx?: Queryable): Promise<void> {
  const claimed = e.event === "token.received" ? e : undefined;
  await appendAudit(tx ?? ctx.db, {
    source: "agent",
    event: e.event,
    decision: e.decision,
    reason: e.reason,
    sub: claimed?.sub ?? ctx.config.investor.userId,
    act: claimed?.act ?? { sub: ctx.config.agent.id },
    jti: claimed?.jti ?? null,
    scopes: claimed?.scopes ?? null,
    orderId,
  });
}

/**
 * The kill switch: Alice (`sub`) revoked the agent (`act`), or gave it fresh credentials. In `tx`
 * when given, so the record commits with the revocation it records.
 */
export async function auditAgentAccess(
  ctx: AgentAuditContext & { config: { auth: { agentClientId: string } } },
  e: { event: "agent.revoked" | "agent.reenabled"; reason: string },
  tx?: Queryable,
): Promise<void> {
  await appendAudit(tx ?? ctx.db, {
    source: "agent",
    event: e.event,
    decision: e.event === "agent.revoked" ? "revoked" : "reenabled",
    reason: e.reason,
    sub: ctx.config.investor.userId,
    act: { sub: ctx.config.agent.id },
    clientId: ctx.config.auth.agentClientId,
  });
}
