import type { StockTradeDetail } from "../orders/order";
import { SPEC } from "./specs";
import type { MessageField, OrderSequence, SequenceMessage, SequenceOutcome } from "./types";

/**
 * The messages of one order's approval flow, derived from what the app recorded about it: the
 * order row, the agent's CIBA request row, the audit chain's records for the order (the agent's,
 * the authorization server's and the resource server's decisions, each naming sub, act and jti)
 * and, with the embedded server, the notification mail. Nothing is invented: a message appears
 * only when a record proves it, at the time of that record. Pure, so it can be tested without a
 * store; reading the facts is read.ts.
 */
export interface AuditFact {
  seq: number;
  at: string;
  source: "resource_server" | "authorization_server" | "agent";
  event: string;
  decision: string;
  reason: string | null;
  sub: string | null;
  act: unknown;
  jti: string | null;
  scopes: string | null;
  tool: string | null;
  binding_rule: string | null;
}

export interface SequenceFacts {
  names: { agentId: string; agentName: string; investorName: string };
  order: { orderId: string; detail: StockTradeDetail; status: string; statusReason: string | null; createdAt: string };
  /** The agent's CIBA request (none before it was sent, or when it was never accepted). */
  approval: { bindingMessage: string; status: string; intervalSeconds: number; expiresAt: string; createdAt: string; lastError: string | null } | null;
  /** The audit chain's records for this order, in chain order. */
  audit: AuditFact[];
  /** The embedded server's notification mail for the request (other servers send their own). */
  mail: { createdAt: string; readAt: string | null; subject: string; delivery: string } | null;
  /** Whether the agent's tokens for this order were DPoP-bound (RFC 9449), where the app knows. */
  dpop: { agentToken: boolean; oboToken: boolean };
  now: string;
}

type Draft = Omit<SequenceMessage, "step">;

/** JWT-shaped text (three base64url parts, the first a JSON header): never shown, whatever record it came from. */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

export function withoutTokens(text: string): string {
  return text.replace(JWT_SHAPE, "[token withheld]");
}

export function deriveSequence(f: SequenceFacts): OrderSequence {
  const { order, names } = f;
  const d = order.detail;
  const record = (source: AuditFact["source"], ...events: string[]) => f.audit.find((r) => r.source === source && events.includes(r.event));
  const drafts: Draft[] = [];
  const add = (m: Draft) => drafts.push(m);

  const frozen = record("agent", "order.frozen");
  add({
    kind: "order_frozen",
    from: "agent",
    to: "agent",
    at: frozen?.at ?? order.createdAt,
    label: "order frozen",
    tone: "note",
    fields: [
      field("order_id", d.order_id),
      field("order", `${d.side} ${d.quantity} ${d.symbol}`),
      field("limit_price", `${d.limit_price} USD`),
      field("max_notional", `${d.max_notional} USD`),
      field("expires_at", d.expires_at),
    ],
    specs: [SPEC.rarRequest],
  });

  const stepUp = record("resource_server", "step_up.required");
  // The broker's transaction challenge (mcp/transaction-challenge.ts) names the order; older records name a scope only.
  const namesOrder = stepUp?.reason?.startsWith("insufficient_authorization:") ?? false;
  if (stepUp) {
    add({
      kind: "agent_call",
      from: "agent",
      to: "mcp",
      at: stepUp.at,
      label: "buy_stock · agent token",
      tone: "request",
      fields: [
        field("tool", `${stepUp.tool ?? "buy_stock"} {symbol: ${d.symbol}, quantity: ${d.quantity}, ${namesOrder ? `limit_price: ${d.limit_price}` : "order_id"}}`),
        field("Authorization", `${f.dpop.agentToken ? "DPoP" : "Bearer"} agent token (never shown)`),
        field("token sub", stepUp.sub ?? "—"),
        field("token scope", stepUp.scopes ?? "—"),
        ...(stepUp.jti ? [field("token jti", stepUp.jti)] : []),
      ],
      specs: f.dpop.agentToken ? [SPEC.mcpTokenUse, SPEC.dpopUse] : [SPEC.mcpTokenUse],
    });
    const scope = /requires the (\S+) scope/.exec(stepUp.reason ?? "")?.[1] ?? "(not recorded)";
    const error = namesOrder ? "insufficient_authorization" : "insufficient_scope";
    add({
      kind: "challenge",
      from: "mcp",
      to: "agent",
      at: stepUp.at,
      label: namesOrder ? `403 ${error} · order` : `403 ${error} · ${scope}`,
      tone: "refused",
      fields: [
        field("status", "HTTP 403"),
        field("WWW-Authenticate", `Bearer error="${error}", scope="${scope}", ${namesOrder ? 'authorization_remediation="…", ' : ""}resource_metadata="…"`),
        field("scope", scope),
        ...(namesOrder ? [field("authorization_details", `[stock_trade ${d.order_id}: ${d.side} ${d.quantity} ${d.symbol}, limit ${d.limit_price} USD]`)] : []),
      ],
      specs: namesOrder ? [SPEC.bearerErrors, SPEC.rarRemediation] : [SPEC.bearerErrors, SPEC.mcpScopeChallenge],
    });
  }

  const asRequest = record("authorization_server", "ciba.requested");
  const agentRequest = record("agent", "ciba.requested");
  const approval = f.approval;
  if (asRequest || agentRequest) {
    const actor = actorSub(asRequest?.act ?? agentRequest?.act);
    add({
      kind: "ciba_request",
      from: "agent",
      to: "as",
      at: (asRequest ?? agentRequest)!.at,
      label: "CIBA request · binding message + order",
      tone: "request",
      fields: [
        field("login_hint", asRequest?.sub ?? agentRequest?.sub ?? "—"),
        field("scope", asRequest?.scopes ?? "openid stock:read stock:trade"),
        field("binding_message", approval?.bindingMessage ?? quoted(agentRequest?.reason) ?? "—"),
        field("authorization_details", `[{type: "${d.type}", order_id: ${d.order_id}, ${d.side} ${d.quantity} ${d.symbol}, limit_price ${d.limit_price}, max_notional ${d.max_notional}, expires_at ${d.expires_at}}]`),
        field("actor_token", `agent token (sub ${actor ?? names.agentId}; never shown)`),
      ],
      specs: [SPEC.cibaRequest, SPEC.rarRequest, SPEC.actorToken],
    });
  }
  if (agentRequest && approval) {
    add({
      kind: "ciba_ack",
      from: "as",
      to: "agent",
      at: agentRequest.at,
      label: `auth_req_id · expires_in ${seconds(approval.createdAt, approval.expiresAt)} s`,
      tone: "ok",
      fields: [
        field("auth_req_id", "issued (kept between the agent and the server; not shown)"),
        field("expires_in", `${seconds(approval.createdAt, approval.expiresAt)} s`),
        field("interval", `${approval.intervalSeconds} s`),
      ],
      specs: [SPEC.cibaAck],
    });
  }

  if (f.mail) {
    add({
      kind: "notification",
      from: "as",
      to: "mailbox",
      at: f.mail.createdAt,
      label: "email: the order, Approve / Deny",
      tone: "request",
      fields: [field("subject", f.mail.subject), field("delivery", f.mail.delivery === "mailbox" ? "embedded mailbox (/inbox)" : f.mail.delivery), field("shows", "the order, the binding message, Approve and Deny links")],
      specs: [SPEC.cibaConsent],
    });
    if (f.mail.readAt) {
      add({
        kind: "mail_opened",
        from: "mailbox",
        to: "user",
        at: f.mail.readAt,
        label: `${names.investorName} opens the email`,
        tone: "note",
        fields: [field("read at", f.mail.readAt)],
        specs: [SPEC.cibaConsent],
      });
    }
  }

  const decided = record("authorization_server", "ciba.approved", "ciba.denied");
  if (decided) {
    const approved = decided.event === "ciba.approved";
    add({
      kind: approved ? "user_approves" : "user_denies",
      from: "user",
      to: "as",
      at: decided.at,
      label: approved ? "signs in and approves" : "signs in and denies",
      tone: approved ? "ok" : "refused",
      fields: [field("decision", decided.decision), field("user", decided.sub ?? "—"), ...(decided.reason ? [field("recorded", decided.reason)] : [])],
      specs: [SPEC.cibaConsent],
    });
  }

  // The poll answers. Individual polls are not recorded: while the request was pending the agent
  // polled every `interval` seconds and got authorization_pending, shown once when a first poll
  // fell before the decision.
  const answer = record("agent", "ciba.approved", "ciba.denied", "ciba.expired", "ciba.failed");
  const issued = record("authorization_server", "token.issued");
  const received = record("agent", "token.received");
  if (approval && agentRequest) {
    const firstPoll = new Date(Date.parse(approval.createdAt) + approval.intervalSeconds * 1000).toISOString();
    const until = decided?.at ?? issued?.at ?? answer?.at ?? f.now;
    if (firstPoll < until) {
      add({
        kind: "poll",
        from: "agent",
        to: "as",
        at: firstPoll,
        label: `token request (poll) every ${approval.intervalSeconds} s`,
        tone: "request",
        fields: [field("grant_type", "urn:openid:params:grant-type:ciba"), field("auth_req_id", "the one acknowledged (not shown)"), field("interval", `${approval.intervalSeconds} s`)],
        specs: [SPEC.cibaTokenRequest],
      });
      add({
        kind: "poll_pending",
        from: "as",
        to: "agent",
        at: firstPoll,
        label: approval.lastError === "slow_down" ? "authorization_pending · slow_down" : "authorization_pending",
        tone: "pending",
        fields: [
          field("error", "authorization_pending"),
          field("meaning", `${names.investorName} has not decided yet; the agent polls again after ${approval.intervalSeconds} s`),
          ...(approval.lastError === "slow_down" ? [field("slow_down", `the server asked to slow down: interval now ${approval.intervalSeconds} s`)] : []),
        ],
        specs: [SPEC.cibaTokenError],
      });
    }
  }
  if (answer) {
    const at = answer.event === "ciba.approved" ? (issued?.at ?? answer.at) : answer.at;
    add({
      kind: "final_poll",
      from: "agent",
      to: "as",
      at,
      label: "token request (poll)",
      tone: "request",
      fields: [field("grant_type", "urn:openid:params:grant-type:ciba")],
      specs: [SPEC.cibaTokenRequest],
    });
    if (answer.event === "ciba.approved") {
      const token = received ?? issued;
      add({
        kind: "token_response",
        from: "as",
        to: "agent",
        at,
        label: `on-behalf-of token · sub ${token?.sub ?? "?"}, act ${actorSub(token?.act) ?? "?"}`,
        tone: "ok",
        fields: [
          field("access_token", `${f.dpop.oboToken ? "DPoP-bound " : ""}JWT (never shown; its claims:)`),
          field("sub", token?.sub ?? "—"),
          field("act", token?.act ? JSON.stringify(token.act) : "—"),
          field("scope", token?.scopes ?? issued?.scopes ?? "—"),
          field("authorization_details", `[{type: "${d.type}", order_id: ${d.order_id}, …}]`),
          ...(token?.jti ? [field("jti", token.jti)] : []),
          ...(received ? [field("agent's check", `${received.decision}: ${received.reason ?? ""}`)] : []),
        ],
        specs: [SPEC.cibaTokenResponse, SPEC.actClaim, SPEC.rarToken],
      });
    } else {
      const error = /answered (\S+)/.exec(answer.reason ?? "")?.[1] ?? answer.decision;
      add({
        kind: answer.event === "ciba.denied" ? "access_denied" : answer.event === "ciba.expired" ? "expired_token" : "token_error",
        from: "as",
        to: "agent",
        at,
        label: error,
        tone: "refused",
        fields: [field("error", error), field("meaning", answerMeaning(answer.event, names.investorName))],
        specs: [SPEC.cibaTokenError],
      });
    }
  }

  const trade = f.audit.find((r) => r.source === "resource_server" && (r.event === "trade.executed" || r.event === "trade.refused") && r.sub !== names.agentId);
  if (trade) {
    add({
      kind: "trade_call",
      from: "agent",
      to: "mcp",
      at: trade.at,
      label: "buy_stock · on-behalf-of token",
      tone: "request",
      fields: [
        field("tool", `${trade.tool ?? "buy_stock"} {symbol: ${d.symbol}, quantity: ${d.quantity}, order_id: ${d.order_id}}`),
        field("Authorization", `${f.dpop.oboToken ? "DPoP" : "Bearer"} on-behalf-of token (never shown)`),
        field("token sub", trade.sub ?? "—"),
        field("token act", trade.act ? JSON.stringify(trade.act) : "—"),
        field("token scope", trade.scopes ?? "—"),
        ...(trade.jti ? [field("token jti", trade.jti)] : []),
      ],
      specs: f.dpop.oboToken ? [SPEC.mcpTokenUse, SPEC.dpopUse] : [SPEC.mcpTokenUse],
    });
    const executed = trade.event === "trade.executed";
    add({
      kind: executed ? "trade_executed" : "trade_refused",
      from: "mcp",
      to: "agent",
      at: trade.at,
      label: executed ? (trade.reason ?? "executed") : `refused · ${trade.reason?.split(":")[0] ?? ""}`,
      tone: executed ? "ok" : "refused",
      fields: [
        field("decision", trade.decision),
        field("recorded", trade.reason ?? "—"),
        field("binding rule", bindingRuleText(trade.binding_rule)),
        field("attributed to", `${trade.sub ?? "—"}, acting: ${actorSub(trade.act) ?? "—"}`),
      ],
      specs: [SPEC.rarResourceServer],
    });
  }

  const messages = drafts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => (a.m.at < b.m.at ? -1 : a.m.at > b.m.at ? 1 : a.i - b.i))
    .map(({ m }, i) => ({ ...m, step: i + 1, label: withoutTokens(m.label), fields: m.fields.map((x) => ({ name: x.name, value: withoutTokens(x.value) })) }));

  const outcome = outcomeOf(order.status);
  return {
    orderId: order.orderId,
    title: `${d.side} ${d.quantity} ${d.symbol}, limit ${d.limit_price} USD`,
    outcome,
    ending: endingOf(outcome, f, trade),
    createdAt: order.createdAt,
    messages,
  };
}

export function outcomeOf(status: string): SequenceOutcome {
  switch (status) {
    case "executed":
    case "denied":
    case "expired":
    case "failed":
    case "cancelled":
      return status;
    default:
      return "in_progress";
  }
}

function endingOf(outcome: SequenceOutcome, f: SequenceFacts, trade: AuditFact | undefined): string | null {
  const who = f.names.investorName;
  const why = f.order.statusReason ? withoutTokens(f.order.statusReason) : null;
  switch (outcome) {
    case "in_progress":
      return null;
    case "executed":
      return `Executed for ${who}: ${trade?.reason?.replace(/^executed: /, "") ?? why ?? "trade recorded"}.`;
    case "denied":
      return `${who} denied the request: no trade.`;
    case "expired":
      return `The request expired before ${who} decided: no trade.`;
    case "failed":
      return `Failed${why ? `: ${why}` : ""}. No trade.`;
    case "cancelled":
      return `Cancelled${why ? ` (${why})` : ""}. No trade.`;
  }
}

function answerMeaning(event: string, investor: string): string {
  if (event === "ciba.denied") return `${investor} denied the request; the agent stops polling. No trade.`;
  if (event === "ciba.expired") return `the request expired before ${investor} decided; the agent stops polling. No trade.`;
  return "the server ended the request; the agent stops polling. No trade.";
}

function bindingRuleText(rule: string | null): string {
  if (rule === "rar") return "rar: the order in the token's authorization_details, checked field by field, once";
  if (rule === "recorded-approval") return "recorded-approval: the order bound to the approval the app recorded, with this token's jti";
  return rule ?? "—";
}

function actorSub(act: unknown): string | undefined {
  const sub = (act as { sub?: unknown } | null | undefined)?.sub;
  return typeof sub === "string" ? sub : undefined;
}

/** The first double-quoted text in a recorded reason (the binding message the agent recorded). */
function quoted(reason: string | null | undefined): string | undefined {
  return reason ? /"([^"]*)"/.exec(reason)?.[1] : undefined;
}

function seconds(from: string, to: string): number {
  return Math.round((Date.parse(to) - Date.parse(from)) / 1000);
}

function field(name: string, value: string): MessageField {
  return { name, value };
}
