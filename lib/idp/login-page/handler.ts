import "server-only";
import { randomBytes } from "node:crypto";
import type http from "node:http";
import { Readable } from "node:stream";
import { errors, type Provider } from "oidc-provider";
import type { AppConfig } from "../../config";
import { cookieValues, serializeCookie } from "../../net/cookies";
import { readUrlEncodedForm } from "../../net/body-limit";
import { crossOriginProblem } from "../../net/origin-check";
import type { InvestorAccounts } from "../accounts";
import { pageCsp, renderFrame } from "../decision-page/layout";
import { BROWSER_COOKIE, browserNonces, DEVICE_COOKIE, DEVICE_TTL_SECONDS, newBrowserNonce, type SessionCodec } from "../decision-page/session";
import { type SignInLimiter, signInKeys } from "../rate-limit";
import { isRegisteredClient, type RegistrationPolicy } from "../registration-policy";
import { consentRequestOf, saveConsentGrant } from "./consent";
import { challengedOrderProblem } from "../challenged-orders";
import { describeOrder } from "../../orders/display";
import type { Queryable } from "../../store/db";
import { consentView, LOGIN_PAGE_PATH, loginExpiredView, loginRefusedView, loginView, type LoginView } from "./views";

/**
 * The embedded server's login page, where oidc-provider sends a browser that must sign in during
 * an authorization request (its `interactions.url`):
 *
 *   GET  /oidc/interaction/{uid}        the sign-in form
 *   POST /oidc/interaction/{uid}/login  email and password; on success back to oidc-provider
 *   POST /oidc/interaction/{uid}/consent  "Allow reading" (a client that registered itself)
 *   POST /oidc/interaction/{uid}/abort  cancel or deny: the client gets access_denied
 *
 * oidc-provider ties the interaction to this browser with its own signed cookie, scoped to the
 * page's path (provider.interactionDetails refuses any other browser). On top of that every POST
 * passes the approval page's checks, in the same order: origin (403), size (413), a form token
 * bound to this browser and this interaction (403); sign-in attempts share the approval page's
 * limiter (../rate-limit.ts), so the two pages together give an attacker no more guesses.
 *
 * First-party clients (the dashboard) are signed in and granted in one step; their grant covers
 * the OpenID scopes they asked for and nothing else: no resource, so no token here can call /mcp.
 * A client that registered itself (an MCP host, ../registration-policy.ts) is signed in first;
 * oidc-provider then asks for consent in a new interaction, and this page shows the consent
 * screen (./consent.ts): the client's unverified name, its id, where it returns to, the scopes
 * and the resource. Consent grants reading only. Both steps pass the same checks.
 */
export interface LoginPageDeps {
  config: AppConfig;
  provider: Provider;
  accounts: InvestorAccounts;
  sessions: SessionCodec;
  limiter: SignInLimiter;
  /** Clients whose sign-in needs no consent screen: the app's own dashboard. */
  firstPartyClients: ReadonlySet<string>;
  registration: RegistrationPolicy;
  /** Where the resource server records the orders it named (a consent to one is checked against it). */
  db: Queryable;
}

const ROUTE = new RegExp(`^${LOGIN_PAGE_PATH}/([A-Za-z0-9_-]{10,64})(?:/(login|consent|abort))?$`);
const MAX_FORM_BYTES = 4096;
/** OpenID scopes the dashboard may be granted; anything else it asks for is dropped. */
const FIRST_PARTY_SCOPES = new Set(["openid", "profile", "email"]);

export function createLoginPageHandler(deps: LoginPageDeps) {
  const secure = deps.config.publicUrl.startsWith("https://");
  const publicOrigin = new URL(deps.config.publicUrl).origin;
  const signInUrl = `${deps.config.publicUrl}/auth/sign-in`;
  const resourceUrl = deps.config.mcp.resourceUrl;
  const browserCookie = (nonce: string) => serializeCookie(BROWSER_COOKIE, nonce, { path: LOGIN_PAGE_PATH, secure, maxAgeSeconds: 3600, sameSite: "Lax" });
  const deviceCookie = (value: string) => serializeCookie(DEVICE_COOKIE, value, { path: LOGIN_PAGE_PATH, secure, maxAgeSeconds: DEVICE_TTL_SECONDS, sameSite: "Strict" });

  return async function handleLoginPage(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const cookieHeader = req.headers.cookie ?? null;
    const nonces = browserNonces(cookieValues(cookieHeader, BROWSER_COOKIE));
    const nonce = nonces[0] ?? newBrowserNonce();
    const setCookies = nonces.length ? [] : [browserCookie(nonce)];
    let formTargets: string[] = [];
    const page = (status: number, title: string, body: string, extra: Record<string, string> = {}) => sendHtml(res, status, title, body, setCookies, extra, formTargets);

    const match = ROUTE.exec(url.pathname);
    if (!match) return page(404, "Not found", loginRefusedView("There is no sign-in at this address."));
    const [, uid, action] = match as unknown as [string, string, string | undefined];
    if (req.method !== "GET" && req.method !== "POST") return page(405, "Not allowed", loginRefusedView("This address only shows and accepts the sign-in form."));
    if ((req.method === "GET") !== !action) return page(405, "Not allowed", loginRefusedView("This address only shows and accepts the sign-in form."));

    let form: URLSearchParams | undefined;
    if (req.method === "POST") {
      const request = webRequest(req);
      const crossOrigin = crossOriginProblem(request, publicOrigin);
      if (crossOrigin) {
        console.warn(`[idp] refused a login-page POST: ${crossOrigin}`);
        return page(403, "Refused", loginRefusedView("This form did not come from this page. Start the sign-in again."));
      }
      const read = await readUrlEncodedForm(request, MAX_FORM_BYTES);
      if (read === "too_large") return page(413, "Too large", loginRefusedView("The form was too large. Go back and try again."));
      if (!read) return page(400, "Bad request", loginRefusedView("The form could not be read. Go back and try again."));
      form = read;
    }

    const details = await deps.provider.interactionDetails(req, res).catch((error: unknown) => {
      if (error instanceof errors.SessionNotFound) return undefined;
      throw error;
    });
    // No interaction for this browser, or its cookie names another one: start over.
    if (!details || details.uid !== uid) return page(400, "Expired", loginExpiredView(signInUrl));
    const params = details.params as Record<string, string | undefined>;
    const clientId = String(params.client_id ?? "");
    const client = await deps.provider.Client.find(clientId);
    if (!client) return page(400, "Expired", loginExpiredView(signInUrl));
    const thirdParty = isRegisteredClient(deps.registration, clientId) && !deps.firstPartyClients.has(clientId);
    // Its forms end in a redirect to the client (oidc-provider checked redirect_uri against its registration).
    if (thirdParty) formTargets = cspSourceOf(params.redirect_uri);
    const prompt = details.prompt.name;
    if (prompt === "consent") {
      return handleConsent({ uid, clientId, client, params, details, form, action, nonce, page, setCookies });
    }
    if (prompt !== "login" || action === "consent") return page(400, "Expired", loginExpiredView(signInUrl));
    const view: LoginView = { uid, clientName: client.clientName ?? clientId, returnOrigin: originOf(params.redirect_uri), thirdParty };
    const formHandle = `login:${uid}`;
    const showForm = async (status: number, username: string, error?: string, extra?: Record<string, string>) =>
      page(status, "Sign in", loginView(view, { csrf: await deps.sessions.formToken("sign-in", formHandle, nonce), username, error }), extra);

    if (!form) return showForm(200, params.login_hint ?? "");

    if (!(await deps.sessions.formTokenValid(form.get("csrf"), "sign-in", formHandle, nonces))) {
      return page(403, "Expired form", loginRefusedView("This form expired or did not come from this page. Start the sign-in again."));
    }
    if (action === "abort") {
      const returnTo = await deps.provider.interactionResult(req, res, { error: "access_denied", error_description: "End-User aborted interaction" }, { mergeWithLastSubmission: false });
      return seeOther(res, returnTo, setCookies);
    }

    const username = (form.get("username") ?? "").slice(0, 200);
    const known = deps.accounts.resolve(username);
    const device = known ? await deps.sessions.readDevice(cookieValues(cookieHeader, DEVICE_COOKIE), known) : undefined;
    const source = clientAddress(req);
    const keys = known ? signInKeys({ accountId: known, deviceId: device?.deviceId, source }) : [`source:${source}`];
    const wait = deps.limiter.retryAfterSeconds(keys);
    if (wait > 0) {
      return showForm(429, username, `Too many sign-in attempts. Try again in ${wait} second${wait === 1 ? "" : "s"}.`, { "Retry-After": String(wait) });
    }
    const accountId = deps.accounts.verify(username, form.get("password") ?? "");
    if (!accountId) {
      deps.limiter.recordFailure(keys);
      return showForm(401, username, "Wrong email or password.");
    }
    deps.limiter.reset(keys[0]!);
    if (!deps.firstPartyClients.has(clientId)) {
      // Signed in; oidc-provider comes back with a consent interaction for this client.
      const returnTo = await deps.provider.interactionResult(
        req,
        res,
        { login: { accountId, amr: ["pwd"], remember: false } },
        { mergeWithLastSubmission: false },
      );
      const knownDevice = await deps.sessions.issueDevice(accountId, device?.deviceId);
      console.log(`[idp] ${accountId} signed in for client ${clientId}; consent next`);
      return seeOther(res, returnTo, [...setCookies, deviceCookie(knownDevice.value)]);
    }

    const grant = new deps.provider.Grant({ accountId, clientId });
    const scopes = String(params.scope ?? "").split(" ").filter((s) => FIRST_PARTY_SCOPES.has(s));
    grant.addOIDCScope(scopes.join(" "));
    const grantId = await grant.save();
    const returnTo = await deps.provider.interactionResult(
      req,
      res,
      { login: { accountId, amr: ["pwd"], remember: false }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    const knownDevice = await deps.sessions.issueDevice(accountId, device?.deviceId);
    console.log(`[idp] ${accountId} signed in to ${clientId}${device ? " from a known device" : ""}`);
    return seeOther(res, returnTo, [...setCookies, deviceCookie(knownDevice.value)]);

    /** The consent step: GET shows it; POST consent grants reading; POST abort denies. */
    async function handleConsent(c: {
      uid: string;
      clientId: string;
      client: { clientName?: string };
      params: Record<string, string | undefined>;
      details: Awaited<ReturnType<Provider["interactionDetails"]>>;
      form: URLSearchParams | undefined;
      action: string | undefined;
      nonce: string;
      page: (status: number, title: string, body: string) => void;
      setCookies: string[];
    }): Promise<void> {
      const accountId = c.details.session?.accountId;
      // Consent only follows a sign-in at this server, only for Alice, only for a registered client.
      if (!accountId || !deps.accounts.byId(accountId) || deps.firstPartyClients.has(c.clientId) || c.action === "login") {
        return c.page(400, "Expired", loginExpiredView(signInUrl));
      }
      const formHandle = `consent:${c.uid}`;
      const request = consentRequestOf(c.details, resourceUrl);
      // An order Alice is asked to approve: still the resource server's, for her and this client, pending.
      const orderProblem = request.unusableDetails
        ? "the request must name exactly one order"
        : request.order
          ? await challengedOrderProblem(deps.db, request.order, c.clientId, accountId)
          : undefined;
      if (orderProblem) {
        console.log(`[idp] order approval for client ${c.clientId} refused: ${orderProblem}`);
        const returnTo = await deps.provider.interactionResult(req, res, { error: "invalid_authorization_details", error_description: orderProblem }, { mergeWithLastSubmission: false });
        return seeOther(res, returnTo, c.setCookies);
      }
      if (!c.form) {
        const returnUrl = urlOf(c.params.redirect_uri);
        return c.page(
          200,
          "Allow access?",
          consentView(
            {
              uid: c.uid,
              clientName: c.client.clientName,
              clientId: c.clientId,
              clientIdIsUrl: /^https:\/\//.test(c.clientId),
              returnOrigin: originOf(c.params.redirect_uri),
              returnsToThisComputer: returnUrl !== undefined && ["127.0.0.1", "[::1]", "localhost"].includes(returnUrl.hostname),
              grantable: request.grantable,
              refused: request.refused,
              account: deps.accounts.byId(accountId)!.email,
              order: request.order ? describeOrder(request.order) : undefined,
            },
            { csrf: await deps.sessions.formToken("consent", formHandle, c.nonce) },
          ),
        );
      }
      if (!(await deps.sessions.formTokenValid(c.form.get("csrf"), "consent", formHandle, nonces))) {
        return c.page(403, "Expired form", loginRefusedView("This form expired or did not come from this page. Start again from the application."));
      }
      if (c.action === "abort") {
        console.log(`[idp] ${accountId} denied client ${c.clientId}`);
        const returnTo = await deps.provider.interactionResult(req, res, { error: "access_denied", error_description: "End-User denied consent" }, { mergeWithLastSubmission: false });
        return seeOther(res, returnTo, c.setCookies);
      }
      const grantId = await saveConsentGrant(deps.provider, c.details, accountId, c.clientId, resourceUrl);
      const returnTo = await deps.provider.interactionResult(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      console.log(`[idp] ${accountId} allowed client ${c.clientId} to read${request.order ? ` and approved order ${request.order.order_id}` : ""}`);
      return seeOther(res, returnTo, c.setCookies);
    }
  };
}

function urlOf(uri: string | undefined): URL | undefined {
  try {
    return new URL(String(uri));
  } catch {
    return undefined;
  }
}

function originOf(uri: string | undefined): string {
  try {
    return new URL(String(uri)).origin;
  } catch {
    return "an unknown address";
  }
}

/** A Web Request over the Node request, for the shared origin check and body limit. */
function webRequest(req: http.IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) for (const v of [value].flat()) headers.append(name, v);
  }
  return new Request(`http://127.0.0.1${req.url ?? "/"}`, {
    method: req.method,
    headers,
    body: Readable.toWeb(req) as ReadableStream,
    duplex: "half",
  } as RequestInit);
}

/** The nearest proxy's view of the client (decision-page/handler.ts says why the last entry). */
function clientAddress(req: http.IncomingMessage): string {
  const forwarded = req.headers["x-forwarded-for"];
  return [forwarded ?? ""].flat().join(",").split(",").pop()?.trim().slice(0, 64) || "unknown";
}

/** The redirect URI's origin as a CSP source, when it can be written as one (not an IPv6 literal). */
function cspSourceOf(uri: string | undefined): string[] {
  const origin = urlOf(uri)?.origin;
  return origin && /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(origin) ? [origin] : [];
}

function sendHtml(res: http.ServerResponse, status: number, title: string, body: string, setCookies: string[], extra: Record<string, string>, formTargets: string[] = []): void {
  const nonce = randomBytes(16).toString("base64");
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": pageCsp(nonce, formTargets),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    ...(setCookies.length ? { "Set-Cookie": setCookies } : {}),
    ...extra,
  });
  res.end(renderFrame({ title, body, nonce }));
}

function seeOther(res: http.ServerResponse, location: string, setCookies: string[]): void {
  res.writeHead(303, { Location: location, "Cache-Control": "no-store", ...(setCookies.length ? { "Set-Cookie": setCookies } : {}) });
  res.end();
}
