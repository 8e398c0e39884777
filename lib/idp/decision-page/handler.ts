import "server-only";
import { randomBytes } from "node:crypto";
import type { Provider } from "oidc-provider";
import type { AppConfig } from "../../config";
import type { Queryable } from "../../store/db";
import type { InvestorAccounts } from "../accounts";
import { type StoredCibaRequest, findCibaRequest } from "../ciba-requests";
import { askedFor } from "../authorization-details";
import { readUrlEncodedForm } from "../../net/body-limit";
import { type SignInLimiter, signInKeys } from "../rate-limit";
import { decide } from "./decide";
import { COUNTDOWN_SCRIPT, pageCsp, renderFrame } from "./layout";
import { crossOriginProblem } from "../../net/origin-check";
import {
  DECISION_PAGE_PATH,
  badRequestView,
  cancelledView,
  decisionView,
  type Decision,
  expiredView,
  type RequestView,
  resultView,
  signInView,
  unknownView,
} from "./pages";
import {
  BROWSER_COOKIE,
  browserNonces,
  cookieValues,
  DEVICE_COOKIE,
  DEVICE_TTL_SECONDS,
  newBrowserNonce,
  serializeCookie,
  SESSION_COOKIE,
  SESSION_TTL_SECONDS,
  type SessionCodec,
} from "./session";

/**
 * The approval (decision) page, served by the embedded server under /oidc/approve (reached from the email):
 *
 *   GET  /oidc/approve/{handle}[?decision=deny]  sign-in form, or the request with Approve / Deny
 *   POST /oidc/approve/{handle}/sign-in          password sign-in for this one request
 *   POST /oidc/approve/{handle}/decision         the decision
 *
 * GET never changes anything: the email's links only open the page. Every POST passes, in this
 * order: the origin check (403), the size limit (413), the form token bound to this browser or
 * session and this handle (403), then its own checks; it ends in a 303 to the GET
 * (post/redirect/get), which shows the current state: pending, decided or expired.
 *
 * Sign-in waits (../rate-limit.ts): a browser that carries a device cookie for the request's account
 * (set by its last successful sign-in, session.ts) waits only for its own failures; any other
 * browser waits for the account's and its source's. So an attacker who fails at every wait's end
 * on a link he knows delays new browsers by at most the short cap, and the user's known browser
 * not at all. A correct password sets or renews the device cookie.
 */

export interface DecisionPageDeps {
  config: AppConfig;
  db: Queryable;
  provider: Provider;
  accounts: InvestorAccounts;
  sessions: SessionCodec;
  limiter: SignInLimiter;
  /** Told the auth_req_id of each request the user decides (StartIdpOptions.onDecision). */
  onDecision?: (authReqId: string) => void;
}

const ROUTE = new RegExp(`^${DECISION_PAGE_PATH}/(apr_[A-Za-z0-9_-]{20,80})(?:/(sign-in|decision))?$`);
export const MAX_FORM_BYTES = 4096;

type Page = (status: number, title: string, body: string, extra?: Record<string, string>) => Response;

export function createDecisionPageHandler(deps: DecisionPageDeps) {
  const secure = deps.config.publicUrl.startsWith("https://");
  const publicOrigin = new URL(deps.config.publicUrl).origin;
  const browserCookie = (nonce: string) => serializeCookie(BROWSER_COOKIE, nonce, { path: DECISION_PAGE_PATH, secure, maxAgeSeconds: 3600, sameSite: "Lax" });
  // Scoped to the one request's path; Strict, as nothing cross-site ever needs it.
  const sessionCookie = (handle: string, value: string, maxAgeSeconds: number) =>
    serializeCookie(SESSION_COOKIE, value, { path: `${DECISION_PAGE_PATH}/${handle}`, secure, maxAgeSeconds, sameSite: "Strict" });
  // For every request's page, as the browser stays known across requests; Strict like the session.
  const deviceCookie = (value: string) => serializeCookie(DEVICE_COOKIE, value, { path: DECISION_PAGE_PATH, secure, maxAgeSeconds: DEVICE_TTL_SECONDS, sameSite: "Strict" });

  return async function handleDecisionPage(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const match = ROUTE.exec(url.pathname);
    const cookieHeader = request.headers.get("cookie");
    const nonces = browserNonces(cookieValues(cookieHeader, BROWSER_COOKIE));
    const nonce = nonces[0] ?? newBrowserNonce();
    const setCookies = nonces.length ? [] : [browserCookie(nonce)];
    const page: Page = (status, title, body, extra) => html(status, title, body, setCookies, extra);

    if (!match) return page(404, "Not found", unknownView());
    const [, handle, action] = match as unknown as [string, string, string | undefined];

    if (request.method === "GET" && !action) {
      const cibaRequest = await findCibaRequest(deps.db, handle);
      if (!cibaRequest) return page(404, "Request not found", unknownView());
      return showRequest(deps, page, url, cibaRequest, nonce, cookieHeader);
    }
    if (request.method !== "POST" || !action) return page(405, "Not allowed", badRequestView("This address only accepts the approval forms."));

    const crossOrigin = crossOriginProblem(request, publicOrigin);
    if (crossOrigin) {
      console.warn(`[idp] refused an approval-page POST: ${crossOrigin}`);
      return page(403, "Refused", badRequestView("This form did not come from this page. Open the link from the email again."));
    }
    const form = await readUrlEncodedForm(request, MAX_FORM_BYTES);
    if (form === "too_large") return page(413, "Too large", badRequestView("The form was too large. Go back and try again."));
    if (!form) return page(400, "Bad request", badRequestView("The form could not be read. Go back and try again."));
    const cibaRequest = await findCibaRequest(deps.db, handle);
    if (!cibaRequest) return page(404, "Request not found", unknownView());
    const expiredForm = () =>
      page(403, "Expired form", badRequestView("This form expired or did not come from this page. Open the link from the email again."));
    const back = (decision?: string, cookies: string[] = []) =>
      redirect(`${DECISION_PAGE_PATH}/${handle}${decision === "deny" ? "?decision=deny" : ""}`, [...setCookies, ...cookies]);

    if (action === "sign-in") {
      if (!(await deps.sessions.formTokenValid(form.get("csrf"), "sign-in", handle, nonces))) return expiredForm();
      const decision: Decision = form.get("decision") === "deny" ? "deny" : "approve";
      if (cibaRequest.status !== "pending" || cibaRequest.expiresAt.getTime() <= Date.now()) return back();
      const username = (form.get("username") ?? "").slice(0, 200);
      // Whatever name was typed, a failure here is a guess at the account this request is for; a
      // known device of that account counts only against itself.
      const device = await deps.sessions.readDevice(cookieValues(cookieHeader, DEVICE_COOKIE), cibaRequest.accountId);
      const keys = signInKeys({ accountId: cibaRequest.accountId, deviceId: device?.deviceId, source: clientAddress(request) });
      const wait = deps.limiter.retryAfterSeconds(keys);
      if (wait > 0) {
        const csrf = await deps.sessions.formToken("sign-in", handle, nonce);
        const error = `Too many sign-in attempts. Try again in ${wait} second${wait === 1 ? "" : "s"}.`;
        return page(429, "Sign in", signInView(toView(deps, cibaRequest), { csrf, username, decision, error }), { "Retry-After": String(wait) });
      }
      const accountId = deps.accounts.verify(username, form.get("password") ?? "");
      if (!accountId || accountId !== cibaRequest.accountId) {
        deps.limiter.recordFailure(keys);
        const csrf = await deps.sessions.formToken("sign-in", handle, nonce);
        return page(401, "Sign in", signInView(toView(deps, cibaRequest), { csrf, username, decision, error: "Wrong email or password." }));
      }
      deps.limiter.reset(keys[0]!);
      console.log(`[idp] ${accountId} signed in on the approval page of mail ${cibaRequest.mailId}${device ? " from a known device" : ""}`);
      const { value } = await deps.sessions.issue(accountId, handle);
      const known = await deps.sessions.issueDevice(accountId, device?.deviceId);
      return back(decision, [sessionCookie(handle, value, SESSION_TTL_SECONDS), deviceCookie(known.value)]);
    }

    // action === "decision"
    const decision = form.get("decision");
    const session = await deps.sessions.read(cookieValues(cookieHeader, SESSION_COOKIE), handle);
    if (!session || session.accountId !== cibaRequest.accountId) return back(decision ?? undefined);
    if (!(await deps.sessions.formTokenValid(form.get("csrf"), "decision", handle, [session.sessionId]))) return expiredForm();
    if (decision !== "approve" && decision !== "deny") return page(400, "Bad request", badRequestView("Choose Approve or Deny."));
    const outcome = await decide(deps.provider, deps.db, cibaRequest, decision);
    if (outcome !== "not_pending") {
      console.log(`[idp] ${cibaRequest.accountId} ${outcome} the request of client ${cibaRequest.clientId} (mail ${cibaRequest.mailId})`);
      deps.onDecision?.(cibaRequest.authReqId);
    }
    // The session was for this request only, which is now decided.
    return back(undefined, [sessionCookie(handle, "", 0)]);
  };
}

async function showRequest(deps: DecisionPageDeps, page: Page, url: URL, cibaRequest: StoredCibaRequest, nonce: string, cookieHeader: string | null): Promise<Response> {
  const view = toView(deps, cibaRequest);
  if (cibaRequest.status === "cancelled") return page(410, "Cancelled", cancelledView(view));
  if (cibaRequest.status !== "pending") return page(200, cibaRequest.status === "approved" ? "Approved" : "Denied", resultView(view, cibaRequest.status));
  if (cibaRequest.expiresAt.getTime() <= Date.now()) return page(410, "Expired", expiredView(view));
  const decision: Decision = url.searchParams.get("decision") === "deny" ? "deny" : "approve";
  const session = await deps.sessions.read(cookieValues(cookieHeader, SESSION_COOKIE), cibaRequest.handle);
  if (!session || session.accountId !== cibaRequest.accountId) {
    const csrf = await deps.sessions.formToken("sign-in", cibaRequest.handle, nonce);
    return page(200, "Sign in", signInView(view, { csrf, username: emailOf(deps, cibaRequest), decision }));
  }
  const csrf = await deps.sessions.formToken("decision", cibaRequest.handle, session.sessionId);
  return page(200, "Approve?", decisionView(view, { csrf, preselected: decision, signedInAs: emailOf(deps, cibaRequest) }));
}

/** The address of the account a request is for (the one who must sign in to decide it). */
function emailOf(deps: DecisionPageDeps, a: StoredCibaRequest): string {
  return deps.accounts.byId(a.accountId)?.email ?? a.accountId;
}

function toView({ config }: DecisionPageDeps, a: StoredCibaRequest): RequestView {
  return {
    handle: a.handle,
    agentName: a.actorSub === config.agent.id || a.clientId === config.auth.agentClientId ? config.agent.name : a.clientId,
    clientId: a.clientId,
    order: askedFor(a.authorizationDetails),
    scope: a.scope,
    bindingMessage: a.bindingMessage,
    expiresAt: a.expiresAt,
  };
}

/**
 * The client's address as the nearest proxy reported it: the last X-Forwarded-For entry (a proxy
 * in front appends the peer it saw; entries before it are the client's word). Without a proxy
 * the whole header is the client's word, which is why ../rate-limit.ts gives this key a short cap.
 */
function clientAddress(request: Request): string {
  return request.headers.get("x-forwarded-for")?.split(",").pop()?.trim().slice(0, 64) || "unknown";
}

function html(status: number, title: string, body: string, setCookies: string[], extra: Record<string, string> = {}): Response {
  const nonce = randomBytes(16).toString("base64");
  const headers = new Headers({
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": pageCsp(nonce),
    "X-Frame-Options": "DENY",
    // Not no-referrer: under it a browser posts its own forms with `Origin: null` (lib/net/origin-check.ts).
    "Referrer-Policy": "same-origin",
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
