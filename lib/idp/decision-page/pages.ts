import { describeDetail } from "../../standing-mandate/display";
import type { StockTradeMandateDetail } from "../../standing-mandate/mandate";
import type { StockTradeDetail } from "../../orders/order";
import { formatInstant } from "../../time";
import { escapeHtml as e } from "../html";
import { describeScopes } from "../scope-words";
import { STOCK_TRADE_MANDATE_TYPE } from "../../protocol";

/**
 * The approval page's views. Each returns the inner HTML of the card; the handler puts it in the
 * frame. Everything shown is rendered from what the client sent and the server validated
 * (authorization_details, binding_message), escaped.
 */
export interface RequestView {
  handle: string;
  agentName: string;
  clientId: string;
  /** The order, or the standing mandate, asked for (authorization_details). */
  order?: StockTradeDetail | StockTradeMandateDetail;
  scope: string;
  bindingMessage: string | null;
  expiresAt: Date;
}

export type Decision = "approve" | "deny";

/** Where the approval page lives on the public origin (below the embedded issuer, /oidc). */
export const DECISION_PAGE_PATH = "/oidc/approve";

const base = (handle: string) => `${DECISION_PAGE_PATH}/${encodeURIComponent(handle)}`;

function headlineOf(v: RequestView): string {
  return v.order ? `${v.agentName} wants to ${describeDetail(v.order).phrase}` : `${v.agentName} asks for your approval`;
}

function countdown(expiresAt: Date): string {
  const left = Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 1000));
  const mmss = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  return `<span class="pill time" data-testid="countdown" data-expires-at="${e(expiresAt.toISOString())}" role="timer" aria-label="Time left to decide">
  Time left <span data-countdown-value>${mmss}</span></span>`;
}

function orderTable(order: StockTradeDetail | StockTradeMandateDetail): string {
  const view = describeDetail(order);
  const rows = view.rows
    .map((r) =>
      r.testId === "order-side"
        ? `<tr><th scope="row">${e(r.label)}</th><td><span class="side ${view.side}" data-testid="${r.testId}">${e(r.value)}</span></td></tr>`
        : `<tr><th scope="row">${e(r.label)}</th><td data-testid="${r.testId}">${e(r.value)}</td></tr>`,
    )
    .join("");
  return `<table class="order" data-testid="order">${rows}</table>`;
}

function bindingBox(message: string | null): string {
  if (!message) return "";
  return `<div class="code"><span class="muted small">Check that your agent shows the same code</span>
  <b data-testid="binding-message">${e(message)}</b></div>`;
}

export function signInView(v: RequestView, form: { csrf: string; username: string; decision: Decision; error?: string }): string {
  return `<p class="eyebrow">Sign in to review</p>
<h1 data-testid="request-headline">${e(headlineOf(v))}</h1>
<div class="row" style="margin-bottom:14px"><span class="muted small">Sign in as the account owner to see the request and decide.</span>${countdown(v.expiresAt)}</div>
${bindingBox(v.bindingMessage)}
${form.error ? `<div class="alert" role="alert" data-testid="sign-in-error">${e(form.error)}</div>` : ""}
<form method="post" action="${base(v.handle)}/sign-in" data-testid="sign-in-form" autocomplete="on">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <input type="hidden" name="decision" value="${form.decision}">
  <label for="username">Email or user id</label>
  <input id="username" name="username" type="text" autocomplete="username" required value="${e(form.username)}" data-testid="sign-in-username">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required autofocus data-testid="sign-in-password">
  <div class="actions"><button class="btn primary" type="submit" data-testid="sign-in-submit">Sign in and review</button></div>
</form>`;
}

export function decisionView(v: RequestView, form: { csrf: string; preselected: Decision; signedInAs: string }): string {
  const deny = form.preselected === "deny";
  return `<p class="eyebrow">Approval request</p>
<h1 data-testid="request-headline">${e(headlineOf(v))}</h1>
<p class="muted"><b style="color:#e2e8f0" data-testid="agent-name">${e(v.agentName)}</b> is your AI agent (client <code>${e(v.clientId)}</code>).
It asks to act on your behalf${!v.order ? "" : v.order.type === STOCK_TRADE_MANDATE_TYPE ? " within the standing limits below" : " for this one order only"}.</p>
<div class="row"><span class="muted small">Signed in as ${e(form.signedInAs)}</span>${countdown(v.expiresAt)}</div>
${v.order ? orderTable(v.order) : `<div style="height:12px"></div>`}
${bindingBox(v.bindingMessage)}
<p class="small muted" style="margin-bottom:4px">If you approve, ${e(v.agentName)} may:</p>
<ul class="perms">${describeScopes(v.scope, v.order?.type === STOCK_TRADE_MANDATE_TYPE).map((s) => `<li>${e(s)}</li>`).join("")}</ul>
${deny ? `<div class="notice" data-testid="deny-preselected">You chose <b>Deny</b> in the email. Press Deny to confirm: nothing has changed yet.</div>` : ""}
<div class="alert" data-testid="expired-note" hidden>This request has expired. Nothing was approved.</div>
<form method="post" action="${base(v.handle)}/decision" data-testid="decision-form">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <div class="actions">
    <button class="btn deny${deny ? " preselected" : ""}" type="submit" name="decision" value="deny" data-decision-button data-testid="deny-button"${deny ? " autofocus" : ""}>Deny</button>
    <button class="btn approve${deny ? "" : " preselected"}" type="submit" name="decision" value="approve" data-decision-button data-testid="approve-button"${deny ? "" : " autofocus"}>Approve</button>
  </div>
</form>`;
}

export function resultView(v: RequestView, status: "approved" | "denied"): string {
  const approved = status === "approved";
  const what = v.order ? describeDetail(v.order).phrase : "act on your behalf";
  return `<div class="result ${status}" data-testid="approval-result" data-status="${status}">
  <div class="icon" aria-hidden="true">${approved ? "✓" : "✕"}</div>
  <h1>${approved ? "Approved" : "Denied"}</h1>
  <p class="muted">${
    approved
      ? `${e(v.agentName)} may now ${e(what)}, exactly as shown, and nothing else.`
      : `${e(v.agentName)} will not ${e(what)}. Nothing changes in your portfolio.`
  }</p>
  ${v.order ? orderTable(v.order) : ""}
  <p class="small muted">You can close this page.</p></div>`;
}

export function expiredView(v: RequestView): string {
  return `<div class="result neutral" data-testid="approval-expired">
  <div class="icon" aria-hidden="true">⏱</div>
  <h1>This request has expired</h1>
  <p class="muted">${e(headlineOf(v))}, but the time to decide ran out at ${e(formatInstant(v.expiresAt))}.
  Nothing was approved. If ${e(v.agentName)} still needs your approval, it will ask again.</p></div>`;
}

/** The client's access was revoked (the kill switch) while the request was pending. */
export function cancelledView(v: RequestView): string {
  return `<div class="result neutral" data-testid="approval-cancelled">
  <div class="icon" aria-hidden="true">⊘</div>
  <h1>This request was cancelled</h1>
  <p class="muted">${e(headlineOf(v))}, but ${e(v.agentName)}'s access was revoked before you decided.
  It can no longer be approved, and nothing changes in your portfolio.</p></div>`;
}

export function unknownView(): string {
  return `<div class="result neutral" data-testid="approval-unknown">
  <div class="icon" aria-hidden="true">?</div>
  <h1>Request not found</h1>
  <p class="muted">This link does not belong to an approval request we know. Check that you opened the whole link from the email.</p></div>`;
}

export function badRequestView(message: string): string {
  return `<div class="result neutral" data-testid="approval-bad-request">
  <div class="icon" aria-hidden="true">!</div><h1>That did not work</h1><p class="muted">${e(message)}</p></div>`;
}
