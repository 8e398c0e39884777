import { escapeHtml as e } from "../html";

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
}

export function loginView(v: LoginView, form: { csrf: string; username: string; error?: string }): string {
  const base = `${LOGIN_PAGE_PATH}/${encodeURIComponent(v.uid)}`;
  return `<p class="eyebrow">Sign in</p>
<h1 data-testid="login-headline">Sign in to ${e(v.clientName)}</h1>
<p class="muted small">You will return to <b style="color:#e2e8f0" data-testid="login-return-origin">${e(v.returnOrigin)}</b>.
Signing in here shows your portfolio and the agent's controls. It approves nothing: every trade still needs its own approval.</p>
${form.error ? `<div class="alert" role="alert" data-testid="sign-in-error">${e(form.error)}</div>` : ""}
<form method="post" action="${base}/login" data-testid="login-form" autocomplete="on">
  <input type="hidden" name="csrf" value="${e(form.csrf)}">
  <label for="username">Email or user id</label>
  <input id="username" name="username" type="text" autocomplete="username" required value="${e(form.username)}" data-testid="sign-in-username">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required autofocus data-testid="sign-in-password">
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
