import "server-only";
import type { Queryable } from "../store/db";

/**
 * The audit log: one record per decision the resource server makes. It names the user (`sub`),
 * the whole actor chain, the client, the token id and a digest of the arguments: never the token.
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
}

export interface AuditRecord extends Required<Omit<AuditInput, "actorChain">> {
  id: number;
  at: string;
  actorChain: unknown;
}

export async function recordAudit(db: Queryable, a: AuditInput): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (tool, decision, reason, sub, actor_chain, client_id, jti, scopes, order_id, args_digest, binding_rule)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      a.tool,
      a.decision,
      a.reason ?? null,
      a.sub ?? null,
      a.actorChain === undefined || a.actorChain === null ? null : JSON.stringify(a.actorChain),
      a.clientId ?? null,
      a.jti ?? null,
      a.scopes ?? null,
      a.orderId ?? null,
      a.argsDigest ?? null,
      a.bindingRule ?? null,
    ],
  );
}

export async function listAudit(db: Queryable, limit = 100): Promise<AuditRecord[]> {
  const rows = await db.query<Record<string, unknown>>("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1", [limit]);
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
