import "server-only";
import { randomBytes } from "node:crypto";
import type { Provider } from "oidc-provider";
import type { AppConfig } from "../../config";
import type { Queryable } from "../../store/db";
import { type Investor, resolveLoginHint, verifyInvestorCredentials } from "../accounts";
import { type Approval, findApproval } from "../approvals";
import { stockTrades } from "../authorization-details";
import type { SignInLimiter } from "../rate-limit";
import { decide } from "./decide";
import { COUNTDOWN_SCRIPT, pageCsp, renderFrame } from "./layout";
import {
  APPROVAL_PATH,
  badRequestView,
  decisionView,
  type Decision,
  expiredView,
  type RequestView,
  resultView,
  signInView,
  unknownView,
} from "./pages";
import { CSRF_COOKIE, csrfMatches, newCsrfToken, parseCookies, serializeCookie, SESSION_COOKIE, SESSION_TTL_SECONDS, type SessionCodec } from "./session";

/**
 * The approval page, served by the embedded server under /oidc/approve (reached from the email):
 *
 *   GET  /oidc/approve/{handle}[?decision=deny]  sign-in form, or the request with Approve / Deny
 *   POST /oidc/approve/{handle}/sign-in          password sign-in (CSRF-checked, rate-limited)
 *   POST /oidc/approve/{handle}/decision         the decision (CSRF- and session-checked)
 *
 * GET never changes anything: the email's links only open the page. Every POST ends in a 303 to
 * the GET (post/redirect/get), which then shows the current state: pending, decided or expired.
 */

export interface ApprovalHandlerDeps {
  config: AppConfig;
  db: Queryable;
  provider: Provider;
  investor: Investor;
  investorPassword: string;
  sessions: SessionCodec;
  limiter: SignInLimiter;
}

const ROUTE = new RegExp(`^${APPROVAL_PATH}/(apr_[A-Za-z0-9_-]{20,80})(?:/(sign-in|decision))?$`);
const MAX_FORM_BYTES = 4096;

export function createApprovalHandler(deps: ApprovalHandlerDeps) {
  const secure = deps.config.publicUrl.startsWith("https://");
  const cookieOptions = (maxAgeSeconds: number) => ({ path: APPROVAL_PATH, secure, maxAgeSeconds });

  return async function handleApproval(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const match = ROUTE.exec(url.pathname);
    const cookies = parseCookies(request.headers.get("cookie"));
    const csrf = cookies[CSRF_COOKIE] ?? newCsrfToken();
    const setCookies = cookies[CSRF_COOKIE] ? [] : [serializeCookie(CSRF_COOKIE, csrf, cookieOptions(3600))];
    const page = (status: number, title: string, body: string) => html(status, title, body, setCookies);

    if (!match) return page(404, "Not found", unknownView());
    const [, handle, action] = match as unknown as [string, string, string | undefined];
    const approval = await findApproval(deps.db, handle);
    if (!approval) return page(404, "Request not found", unknownView());
    const view = toView(deps, approval);

    if (request.method === "GET" && !action) {
      if (approval.status !== "pending") return page(200, approval.status === "approved" ? "Approved" : "Denied", resultView(view, approval.status));
      if (approval.expiresAt.getTime() <= Date.now()) return page(410, "Expired", expiredView(view));
      const decision: Decision = url.searchParams.get("decision") === "deny" ? "deny" : "approve";
      const signedIn = deps.sessions.read(cookies[SESSION_COOKIE]);
      if (signedIn !== approval.accountId) {
        return page(200, "Sign in", signInView(view, { csrf, username: deps.investor.email, decision }));
      }
      return page(200, "Approve?", decisionView(view, { csrf, preselected: decision, signedInAs: deps.investor.email }));
    }

    if (request.method !== "POST" || !action) return page(405, "Not allowed", badRequestView("This address only accepts the approval forms."));
    const form = await readForm(request);
    if (!form) return page(400, "Bad request", badRequestView("The form could not be read. Go back and try again."));
    if (!csrfMatches(cookies[CSRF_COOKIE], form.get("csrf"))) {
      return page(403, "Expired form", badRequestView("This form expired or did not come from this page. Open the link from the email again."));
    }
    const back = (decision?: string, cookie?: string) =>
      redirect(`${APPROVAL_PATH}/${handle}${decision === "deny" ? "?decision=deny" : ""}`, cookie ? [...setCookies, cookie] : setCookies);

    if (action === "sign-in") {
      const decision: Decision = form.get("decision") === "deny" ? "deny" : "approve";
      if (approval.status !== "pending" || approval.expiresAt.getTime() <= Date.now()) return back();
      const username = (form.get("username") ?? "").slice(0, 200);
      // Keyed by the account it would sign in to (email and user id count as one), and by address.
      const account = resolveLoginHint(deps.investor, username) ?? username.trim().toLowerCase();
      const keys = [`account:${account}`, `ip:${clientAddress(request)}`];
      const wait = deps.limiter.retryAfterSeconds(keys);
      if (wait > 0) {
        const error = `Too many sign-in attempts. Try again in ${wait} seconds.`;
        return html(429, "Sign in", signInView(view, { csrf, username, decision, error }), setCookies, { "Retry-After": String(wait) });
      }
      const accountId = verifyInvestorCredentials(deps.investor, deps.investorPassword, username, form.get("password") ?? "");
      if (!accountId || accountId !== approval.accountId) {
        deps.limiter.recordFailure(keys);
        return page(401, "Sign in", signInView(view, { csrf, username, decision, error: "Wrong email or password." }));
      }
      deps.limiter.reset(keys[0]!);
      console.log(`[idp] ${accountId} signed in on the approval page`);
      return back(decision, serializeCookie(SESSION_COOKIE, deps.sessions.issue(accountId), cookieOptions(SESSION_TTL_SECONDS)));
    }

    // action === "decision"
    const decision = form.get("decision");
    if (decision !== "approve" && decision !== "deny") return page(400, "Bad request", badRequestView("Choose Approve or Deny."));
    if (deps.sessions.read(cookies[SESSION_COOKIE]) !== approval.accountId) return back(decision);
    const outcome = await decide(deps.provider, deps.db, approval, decision);
    if (outcome !== "not_pending") console.log(`[idp] ${approval.accountId} ${outcome} the request of client ${approval.clientId} (mail ${approval.mailId})`);
    return back();
  };
}

function toView({ config }: ApprovalHandlerDeps, a: Approval): RequestView {
  return {
    handle: a.handle,
    agentName: a.actorSub === config.agent.id || a.clientId === config.auth.agentClientId ? config.agent.name : a.clientId,
    clientId: a.clientId,
    order: stockTrades(a.authorizationDetails)[0],
    scope: a.scope,
    bindingMessage: a.bindingMessage,
    expiresAt: a.expiresAt,
  };
}

async function readForm(request: Request): Promise<URLSearchParams | undefined> {
  if (!(request.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return undefined;
  const text = await request.text();
  return text.length > MAX_FORM_BYTES ? undefined : new URLSearchParams(text);
}

/**
 * The client's address as the proxy reported it. Next.js keeps an X-Forwarded-For the client sent
 * itself, so this key can be dodged; the per-account key above is the one that always holds.
 */
function clientAddress(request: Request): string {
  return request.headers.get("x-forwarded-for")?.split(",")[0]?.trim() || "unknown";
}

function html(status: number, title: string, body: string, setCookies: string[], extra: Record<string, string> = {}): Response {
  const nonce = randomBytes(16).toString("base64");
  const headers = new Headers({
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": pageCsp(nonce),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    ...extra,
  });
  for (const c of setCookies) headers.append("Set-Cookie", c);
  return new Response(renderFrame({ title, body, nonce, script: body.includes('data-testid="countdown"') ? COUNTDOWN_SCRIPT : undefined }), { status, headers });
}

function redirect(location: string, setCookies: string[]): Response {
  const headers = new Headers({ Location: location, "Cache-Control": "no-store" });
  for (const c of setCookies) headers.append("Set-Cookie", c);
  return new Response(null, { status: 303, headers });
}
