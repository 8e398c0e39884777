import "server-only";
import type { StockTradeDetail } from "../orders/order";
import type { Queryable } from "../store/db";
import { toIso } from "../time";
import { deriveSequence, outcomeOf, type AuditFact, type SequenceFacts } from "./derive";
import { PARTIES, type OrderSummary, type PartyView, type SequenceResponse } from "./types";

/**
 * Reads what the sequence view shows for one investor: their recent orders and the flow of one of
 * them, from the store's records (orders, pending_approvals, the audit chain and, with the embedded
 * server, the notification mail). Every query names the investor (`user_sub`), so an order of
 * someone else reads as unknown. Read-only; never a token column (the agent's row holds decoded
 * claims, of which only whether they carry a DPoP key binding, `cnf`, is read).
 */
export const RECENT_ORDERS = 20;
/** More audit records than any one order's flow writes; a cap against an order hammered by replays. */
const MAX_AUDIT_RECORDS = 200;

export interface SequenceNames {
  agentId: string;
  agentName: string;
  investorName: string;
}

export interface SequenceQuery {
  userSub: string;
  /** The order to show; the newest when absent. */
  orderId?: string;
  names: SequenceNames;
  now?: Date;
}

type Row = Record<string, unknown>;

/** undefined when `orderId` names no order of this user. */
export async function readSequence(db: Queryable, q: SequenceQuery): Promise<SequenceResponse | undefined> {
  const orders = await listOrders(db, q.userSub);
  const orderId = q.orderId ?? orders[0]?.orderId;
  const parties = partiesOf(q.names);
  if (!orderId) return { parties, orders, sequence: null };
  const facts = await readFacts(db, q, orderId);
  if (!facts) return undefined;
  return { parties, orders, sequence: deriveSequence(facts) };
}

export function partiesOf(names: SequenceNames): PartyView[] {
  const view: Record<(typeof PARTIES)[number], Omit<PartyView, "id">> = {
    agent: { name: names.agentName, role: "agent" },
    mcp: { name: "MCP server", role: "resource server" },
    as: { name: "Authorization server", role: "CIBA, tokens" },
    mailbox: { name: `${names.investorName}'s mailbox`, role: "notification" },
    user: { name: names.investorName, role: "investor" },
  };
  return PARTIES.map((id) => ({ id, ...view[id] }));
}

async function listOrders(db: Queryable, userSub: string): Promise<OrderSummary[]> {
  const rows = await db.query<Row>("SELECT order_id, detail, status, created_at FROM orders WHERE user_sub = $1 AND detail IS NOT NULL ORDER BY created_at DESC, order_id DESC LIMIT $2", [
    userSub,
    RECENT_ORDERS,
  ]);
  return rows.map((r) => {
    const d = r.detail as StockTradeDetail;
    return { orderId: r.order_id as string, title: `${d.side} ${d.quantity} ${d.symbol}, limit ${d.limit_price} USD`, createdAt: toIso(r.created_at as Date), outcome: outcomeOf(r.status as string) };
  });
}

async function readFacts(db: Queryable, q: SequenceQuery, orderId: string): Promise<SequenceFacts | undefined> {
  const [order] = await db.query<Row>("SELECT order_id, detail, status, status_reason, created_at FROM orders WHERE order_id = $1 AND user_sub = $2 AND detail IS NOT NULL", [orderId, q.userSub]);
  if (!order) return undefined;
  const [approvals, audit, agent] = await Promise.all([
    db.query<Row>(
      "SELECT auth_req_id, binding_message, status, interval_seconds, expires_at, created_at, last_error FROM pending_approvals WHERE order_id = $1 ORDER BY created_at DESC LIMIT 1",
      [orderId],
    ),
    db.query<Row>(
      `SELECT seq, at, source, event, decision, reason, sub, actor_chain, jti, scopes, tool, binding_rule
         FROM audit_log WHERE order_id = $1 AND seq IS NOT NULL ORDER BY seq LIMIT $2`,
      [orderId, MAX_AUDIT_RECORDS],
    ),
    db.query<Row>(
      "SELECT order_id, (agent_token_claims -> 'cnf') IS NOT NULL AS agent_dpop, (obo_token_claims -> 'cnf') IS NOT NULL AS obo_dpop FROM agent_state WHERE agent_id = $1",
      [q.names.agentId],
    ),
  ]);
  const approval = approvals[0];
  const mail = approval ? await readMail(db, approval.auth_req_id as string) : null;
  const agentRow = agent[0];
  return {
    names: q.names,
    order: {
      orderId,
      detail: order.detail as StockTradeDetail,
      status: order.status as string,
      statusReason: (order.status_reason as string | null) ?? null,
      createdAt: toIso(order.created_at as Date),
    },
    approval: approval
      ? {
          bindingMessage: approval.binding_message as string,
          status: approval.status as string,
          intervalSeconds: Number(approval.interval_seconds),
          expiresAt: toIso(approval.expires_at as Date),
          createdAt: toIso(approval.created_at as Date),
          lastError: (approval.last_error as string | null) ?? null,
        }
      : null,
    audit: audit.map(toAuditFact),
    mail,
    dpop: {
      agentToken: Boolean(agentRow?.agent_dpop),
      // The agent keeps the claims of its last on-behalf-of token only, for the order it features.
      oboToken: Boolean(agentRow?.obo_dpop) && agentRow?.order_id === orderId,
    },
    now: (q.now ?? new Date()).toISOString(),
  };
}

/**
 * The embedded server's mail for a CIBA request, by the request's row (idp_approvals) that names
 * it. With WSO2 or Auth0 these tables are empty: their servers notify the user themselves.
 */
async function readMail(db: Queryable, authReqId: string): Promise<SequenceFacts["mail"]> {
  const [mail] = await db.query<Row>(
    `SELECT m.created_at, m.read_at, m.subject, m.delivery FROM idp_approvals a JOIN idp_mailbox m ON m.id = a.mail_id WHERE a.auth_req_id = $1`,
    [authReqId],
  );
  if (!mail) return null;
  return {
    createdAt: toIso(mail.created_at as Date),
    readAt: mail.read_at ? toIso(mail.read_at as Date) : null,
    subject: mail.subject as string,
    delivery: mail.delivery as string,
  };
}

function toAuditFact(r: Row): AuditFact {
  return {
    seq: Number(r.seq),
    at: toIso(r.at as Date),
    source: r.source as AuditFact["source"],
    event: r.event as string,
    decision: r.decision as string,
    reason: (r.reason as string | null) ?? null,
    sub: (r.sub as string | null) ?? null,
    act: r.actor_chain ?? null,
    jti: (r.jti as string | null) ?? null,
    scopes: (r.scopes as string | null) ?? null,
    tool: (r.tool as string | null) ?? null,
    binding_rule: (r.binding_rule as string | null) ?? null,
  };
}
