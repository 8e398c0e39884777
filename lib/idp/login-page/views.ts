import { escapeHtml as e } from "../html";
import type { OrderView } from "../../orders/display";

/**
 * The login page's views (inner HTML of the card; the frame is the approval page's). Everything
 * shown comes from the server's own records of the authorization request, escaped.
 */
export const LOGIN_PAGE_PATH = "/oidc/interaction";

export interface LoginView {
  uid: string;
  /** The client's name as registered (the dashboard's, for the embedded server). */
  clientName: string;
  /** Where the client sends her back after sign-in: its origin, shown so she can check it. */
  returnOrigin: string;
  /** A client that registered itself: its name is unverified and consent follows sign-in. */
  thirdParty?: boolean;
}

export function loginView(v: LoginView, form: { csrf: string; username: string; error?: string }): string {
  const base = `${LOGIN_PAGE_PATH}/${encodeURIComponent(v.uid)}`;
  return `<p class="eyebrow">Sign in</p>
${
    v.thirdParty
      ? `<h1 data-testid="login-headline">Sign in: “${e(v.clientName)}” asks for access</h1>
<p class="muted small">That name is what the application calls itself; this server has not checked it. After you sign in you will see
what it asks for and decide. You will return to <b style="color:#e2e8f0" data-testid="login-return-origin">${e(v.returnOrigin)}</b>.</p>`
      : `<h1 data-testid="login-headline">Sign in to ${e(v.clientName)}</h1>
<p class="muted small">You will return to <b style="color:#e2e8f0" data-testid="login-return-origin">${e(v.returnOrigin)}</b>.
Signing in here shows your portfolio and the agent's controls. It approves nothing: every trade still needs its own approval.</p>`
  }
${form.error ? `<div class="alert" role="alert" data-testid="sign-in-error">${e(form.error)}</div>` : ""}
<form method="post" action="${base}/login" data-testid="login-form" autocomplete="on">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <label for="username">Email or user id</label>
  <input id="username" name="username" type="text" autocomplete="username" required value="${e(form.username)}"${form.username ? "" : " autofocus"} data-testid="sign-in-username">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required${form.username ? " autofocus" : ""} data-testid="sign-in-password">
  <div class="actions"><button class="btn primary" type="submit" data-testid="sign-in-submit">Sign in</button></div>
</form>
<p class="small muted" data-testid="password-hint">Development server: the password was printed in the app's terminal when it first
started, unless <code>INVESTOR_PASSWORD</code> sets one.</p>
<form method="post" action="${base}/abort" data-testid="abort-form">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <div class="actions"><button class="btn deny" type="submit" data-testid="sign-in-cancel">Cancel</button></div>
</form>`;
}

export function loginExpiredView(signInUrl: string): string {
  return `<div class="result neutral" data-testid="login-expired">
  <div class="icon" aria-hidden="true">⏱</div>
  <h1>This sign-in has expired</h1>
  <p class="muted">Sign-in pages are good for ten minutes and in the browser that opened them.</p>
  <p><a class="btn primary" style="display:inline-block;text-decoration:none" href="${e(signInUrl)}" data-testid="login-restart">Start again</a></p></div>`;
}

export function loginRefusedView(message: string): string {
  return `<div class="result neutral" data-testid="login-refused">
  <div class="icon" aria-hidden="true">!</div><h1>That did not work</h1><p class="muted">${e(message)}</p></div>`;
}

/** Human words for what a registered client may be allowed, on the consent screen. */
const CONSENT_WORDS: Record<string, string> = {
  openid: "Know your user id at this server",
  profile: "See your name",
  email: "See your email address",
  "stock:read": "Read market prices, your portfolio and your trade history",
};

export interface ConsentView {
  uid: string;
  /** The name the client gave itself: untrusted, shown as such. */
  clientName: string | undefined;
  clientId: string;
  /** True when the client id is the URL of its metadata document (fetched over HTTPS). */
  clientIdIsUrl: boolean;
  /** Where the browser goes after the answer: the redirect URI's origin. */
  returnOrigin: string;
  /** That origin is a loopback address: a program on this computer. */
  returnsToThisComputer: boolean;
  grantable: { oidc: string[]; resource: Array<{ indicator: string; scopes: string[] }> };
  refused: string[];
  /** The signed-in account, so she can see who she is granting for. */
  account: string;
  /** The order she is asked to approve (a transaction challenge's), in words. */
  order?: OrderView;
}

export function consentView(v: ConsentView, form: { csrf: string }): string {
  const base = `${LOGIN_PAGE_PATH}/${encodeURIComponent(v.uid)}`;
  const name = v.clientName ? `“${e(v.clientName)}”` : "An application without a name";
  const came = v.clientIdIsUrl
    ? `It is identified by the document at <code data-testid="consent-client-id">${e(v.clientId)}</code>.`
    : `It registered itself with this server as <code data-testid="consent-client-id">${e(v.clientId)}</code>; nobody has vetted it.`;
  const where = v.returnsToThisComputer ? " (a program on this computer)" : "";
  const scopes = [
    ...v.grantable.oidc.map((s) => ({ scope: s, resource: undefined as string | undefined })),
    ...v.grantable.resource.flatMap((r) => r.scopes.map((s) => ({ scope: s, resource: r.indicator }))),
  ];
  const items = scopes.length
    ? scopes
        .map(
          (s) =>
            `<li data-testid="consent-scope"><b>${e(CONSENT_WORDS[s.scope] ?? s.scope)}</b> <code>${e(s.scope)}</code>${
              s.resource ? ` at <code data-testid="consent-resource">${e(s.resource)}</code>` : ""
            }</li>`,
        )
        .join("\n")
    : `<li data-testid="consent-scope">Nothing beyond signing you in</li>`;
  return `<p class="eyebrow">Allow access?</p>
<h1 data-testid="consent-headline">${name} wants to use your account</h1>
<p class="muted small" data-testid="consent-client-note">The name above is what the application calls itself; this server has not checked it. ${came}</p>
<p class="muted small">After you answer you go to <b style="color:#e2e8f0" data-testid="consent-return-origin">${e(v.returnOrigin)}</b>${e(where)}.
Signed in as <b style="color:#e2e8f0">${e(v.account)}</b>.</p>
<p class="small">If you allow it, it may:</p>
<ul class="small" data-testid="consent-scopes">
${items}
</ul>
${v.refused.length ? `<p class="small muted" data-testid="consent-refused">Asked for but never granted here: ${v.refused.map((s) => `<code>${e(s)}</code>`).join(", ")}.</p>` : ""}
${
  v.order
    ? `<div data-testid="consent-order">
<p class="small">It also asks you to approve <b>this one order</b>, which it may then place once, on your behalf:</p>
<p><b data-testid="consent-order-headline">${e(v.order.headline)}</b></p>
<dl class="small">
${v.order.rows.map((r) => `<dt>${e(r.label)}</dt><dd data-testid="consent-${e(r.testId)}">${e(r.value)}</dd>`).join("\n")}
</dl>
<p class="small muted">Nothing else: no other order, no other amount, and not after the time above.</p>
</div>`
    : `<p class="small muted">It cannot buy or sell: every trade still needs your approval of that exact order.</p>`
}
<form method="post" action="${base}/consent" data-testid="consent-form">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <div class="actions"><button class="btn primary" type="submit" data-testid="consent-allow">${v.order ? `Approve: ${e(v.order.phrase)}` : "Allow reading"}</button></div>
</form>
<form method="post" action="${base}/abort" data-testid="consent-deny-form">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <div class="actions"><button class="btn deny" type="submit" data-testid="consent-deny">Deny</button></div>
</form>`;
}
