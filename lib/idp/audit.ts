import "server-only";
import { appendAudit } from "../audit/chain";
import type { Queryable } from "../store/db";
import type { StoredCibaRequest } from "./ciba-requests";

/**
 * The authorization server's decisions in the audit chain: a CIBA request accepted, the user's
 * approval or denial, the on-behalf-of token issued (by its `jti`, never the token). Each names
 * the user (`sub`) and the actor the request named (`act`), and the order from the request's
 * authorization_details.
 */
type RequestFacts = Pick<StoredCibaRequest, "accountId" | "actorSub" | "clientId" | "scope" | "authorizationDetails">;

export async function auditCibaRequested(db: Queryable, r: RequestFacts & { bindingMessage: string | null }): Promise<void> {
  await appendAudit(db, {
    source: "authorization_server",
    event: "ciba.requested",
    decision: "accepted",
    reason: r.bindingMessage ? `binding_message "${r.bindingMessage}"; the user is notified` : "the user is notified",
    ...facts(r),
  });
}

export async function auditCibaDecided(db: Queryable, r: RequestFacts, decision: "approved" | "denied"): Promise<void> {
  await appendAudit(db, {
    source: "authorization_server",
    event: `ciba.${decision}`,
    decision,
    reason: decision === "approved" ? "the user signed in and approved the order" : "the user signed in and denied the order",
    ...facts(r),
  });
}

export async function auditTokenIssued(db: Queryable, r: RequestFacts, jti: string | undefined, scope: string | undefined): Promise<void> {
  await appendAudit(db, {
    source: "authorization_server",
    event: "token.issued",
    decision: "issued",
    reason: "on-behalf-of access token (CIBA grant)",
    ...facts(r),
    jti: jti ?? null,
    scopes: scope ?? r.scope,
  });
}

function facts(r: RequestFacts) {
  return {
    sub: r.accountId,
    act: r.actorSub ? { sub: r.actorSub } : null,
    clientId: r.clientId,
    scopes: r.scope,
    orderId: orderIdOf(r.authorizationDetails),
  };
}

function orderIdOf(details: unknown[] | null): string | null {
  const id = (details?.[0] as { order_id?: unknown } | undefined)?.order_id;
  return typeof id === "string" ? id : null;
}
