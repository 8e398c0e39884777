import { describeDetail } from "../standing-mandate/display";
import type { StockTradeMandateDetail } from "../standing-mandate/mandate";
import type { StockTradeDetail } from "../orders/order";
import { formatDuration, formatInstant } from "../time";
import { escapeHtml as e } from "./html";
import { describeScopes } from "./scope-words";

/**
 * The CIBA notification to the user's authentication device, as an email: what is asked (the order
 * rendered from authorization_details), the binding message to compare, when it expires, and
 * Approve / Deny links to the approval page. The links only open the page; deciding takes a
 * sign-in and a POST there. Inline styles and tables, because that is what mail clients render.
 */
export interface ApprovalEmailInput {
  investorName: string;
  agentName: string;
  order?: StockTradeDetail | StockTradeMandateDetail;
  scope: string;
  bindingMessage?: string;
  expiresAt: Date;
  approveUrl: string;
  denyUrl: string;
  now?: Date;
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export function renderApprovalEmail(input: ApprovalEmailInput): RenderedEmail {
  const now = input.now ?? new Date();
  const view = input.order ? describeDetail(input.order) : undefined;
  const left = formatDuration((input.expiresAt.getTime() - now.getTime()) / 1000);
  const expires = `${formatInstant(input.expiresAt)} (in ${left})`;
  const subject = view
    ? `${input.agentName} asks you to approve: ${view.headline}`
    : `${input.agentName} asks for your approval`;

  const text = [
    `Hi ${input.investorName},`,
    "",
    `${input.agentName}, your AI agent, asks for your approval${view ? ` to ${view.phrase}` : ""}.`,
    "",
    ...(view ? view.rows.map((r) => `  ${r.label}: ${r.value}`) : describeScopes(input.scope).map((s) => `  - ${s}`)),
    "",
    ...(input.bindingMessage ? [`Check that your agent shows the same code: ${input.bindingMessage}`, ""] : []),
    `This request expires at ${expires}.`,
    "",
    `Approve: ${input.approveUrl}`,
    `Deny:    ${input.denyUrl}`,
    "",
    "The links only open the approval page: you sign in and confirm there. If you did not expect this, choose Deny.",
  ].join("\n");

  const rows = (view ? view.rows : describeScopes(input.scope).map((s) => ({ label: "Permission", value: s, testId: "scope" })))
    .map(
      (r) => `<tr>
        <td style="padding:8px 0;color:#94a3b8;font-size:13px;border-bottom:1px solid #1e293b;">${e(r.label)}</td>
        <td style="padding:8px 0;color:#f1f5f9;font-size:14px;font-weight:600;text-align:right;border-bottom:1px solid #1e293b;font-variant-numeric:tabular-nums;">${e(r.value)}</td>
      </tr>`,
    )
    .join("");

  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${e(subject)}</title></head>
<body style="margin:0;padding:0;background:#020617;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#e2e8f0;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#020617;padding:24px 12px;">
<tr><td align="center">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:520px;background:#0f172a;border:1px solid #1e293b;border-radius:16px;">
<tr><td style="padding:24px 28px 8px;">
  <div style="font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#38bdf8;font-weight:700;">Sleeping Guardian · approval request</div>
  <h1 style="margin:10px 0 6px;font-size:22px;line-height:1.3;color:#f8fafc;">${e(view ? `${input.agentName} wants to ${view.phrase}` : `${input.agentName} asks for your approval`)}</h1>
  <p style="margin:0;color:#cbd5e1;font-size:14px;line-height:1.5;">Hi ${e(input.investorName)}, your AI agent needs your approval before it can act for you.</p>
</td></tr>
<tr><td style="padding:12px 28px;"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" data-testid="mail-order">${rows}</table></td></tr>
${
  input.bindingMessage
    ? `<tr><td style="padding:4px 28px 8px;">
  <div style="background:#020617;border:1px dashed #334155;border-radius:10px;padding:12px 14px;">
    <div style="font-size:12px;color:#94a3b8;">Check that your agent shows the same code</div>
    <div data-testid="mail-binding-message" style="margin-top:4px;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:15px;color:#f8fafc;font-weight:700;">${e(input.bindingMessage)}</div>
  </div></td></tr>`
    : ""
}
<tr><td style="padding:8px 28px;color:#fbbf24;font-size:13px;" data-testid="mail-expiry">Expires at ${e(expires)}</td></tr>
<tr><td style="padding:12px 28px 8px;">
  <a href="${e(input.approveUrl)}" target="_top" data-testid="mail-approve-link" style="display:inline-block;background:#059669;color:#ffffff;text-decoration:none;font-weight:700;font-size:15px;padding:12px 22px;border-radius:10px;margin:0 8px 8px 0;">Review and approve</a>
  <a href="${e(input.denyUrl)}" target="_top" data-testid="mail-deny-link" style="display:inline-block;background:#1e293b;color:#fda4af;text-decoration:none;font-weight:700;font-size:15px;padding:12px 22px;border-radius:10px;border:1px solid #9f1239;margin:0 0 8px;">Deny</a>
</td></tr>
<tr><td style="padding:8px 28px 24px;color:#64748b;font-size:12px;line-height:1.5;">
  The buttons only open the approval page: nothing happens until you sign in and confirm there.
  If you did not expect this request, choose Deny.
</td></tr>
</table>
</td></tr></table>
</body></html>`;

  return { subject, text, html };
}
