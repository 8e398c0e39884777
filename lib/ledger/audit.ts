import "server-only";
import { appendAudit } from "../audit/chain";
import type { Db, Queryable } from "../store/db";

/**
 * The resource server's records in the audit chain (lib/audit/): one per decision it makes. It
 * names the user (`sub`), the whole actor chain, the client, the token id and a digest of the
 * arguments: never the token.
 */
export interface AuditInput {
  tool: string;
  decision: "allowed" | "refused";
  reason?: string | null;
  sub?: string | null;
  actorChain?: unknown;
  clientId?: string | null;
  jti?: string | null;
  scopes?: string | null;
  orderId?: string | null;
  argsDigest?: string | null;
  bindingRule?: string | null;
  /** Defaults to `tool.allowed` / `tool.refused`; trades say `trade.executed` / `trade.refused`. */
  event?: string;
}

export interface AuditRecord extends Required<Omit<AuditInput, "actorChain" | "event">> {
  id: number;
  at: string;
  actorChain: unknown;
}

/** Appends in the caller's transaction when given one, so the record commits with the decision. */
export async function recordAudit(db: Db | Queryable, a: AuditInput): Promise<void> {
  await appendAudit(db, {
    source: "resource_server",
    event: a.event ?? `tool.${a.decision}`,
    decision: a.decision,
    reason: a.reason,
    sub: a.sub,
    act: a.actorChain,
    clientId: a.clientId,
    jti: a.jti,
    scopes: a.scopes,
    orderId: a.orderId,
    tool: a.tool,
    argsDigest: a.argsDigest,
    bindingRule: a.bindingRule,
  });
}

export async function listAudit(db: Queryable, limit = 100): Promise<AuditRecord[]> {
  const rows = await db.query<Record<string, unknown>>("SELECT * FROM audit_log WHERE source = 'resource_server' ORDER BY id DESC LIMIT $1", [limit]);
  return rows.map((r) => ({
    id: r.id as number,
    at: new Date(r.at as string).toISOString(),
    tool: r.tool as string,
    decision: r.decision as "allowed" | "refused",
    reason: (r.reason as string) ?? null,
    sub: (r.sub as string) ?? null,
    actorChain: r.actor_chain ?? null,
    clientId: (r.client_id as string) ?? null,
    jti: (r.jti as string) ?? null,
    scopes: (r.scopes as string) ?? null,
    orderId: (r.order_id as string) ?? null,
    argsDigest: (r.args_digest as string) ?? null,
    bindingRule: (r.binding_rule as string) ?? null,
  }));
}
