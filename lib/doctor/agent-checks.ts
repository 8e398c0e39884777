import "server-only";
import { randomBytes } from "node:crypto";
import { freezeOrder } from "../orders/freeze";
import type { FetchLike } from "../auth/app-fetch";
import { scopesOf } from "../auth/claims";
import { createIdentityServerProfile } from "../auth/profiles";
import type { TokenResult } from "../auth/profiles/types";
import { ProtocolError } from "../errors";
import type { AppConfig } from "../config";
import { trustedIssuer } from "../net/issuer-discovery";
import { SCOPE_READ, SCOPE_TRADE } from "../protocol";
import { verifyAccessToken, verifyOptionsFor } from "../protected-resource/verify-access-token";
import { agentTokenHints, BROAD_SCOPE_HINTS, cibaHints, isUnknownWso2User, notificationHints, SCOPE_HINTS, TOKEN_TYPE_HINTS } from "./hints";
import { oauthError, probeCiba, tenantEndpoints, unreachableHints } from "./probes";
import type { DoctorReport } from "./report";

/**
 * The checks that need the agent's credentials: its own token through the same identity-server profile
 * the app uses, the CIBA endpoint, and the user the approval requests go to.
 */
export async function checkAgentToken(report: DoctorReport, config: AppConfig, fetch: FetchLike): Promise<TokenResult | undefined> {
  const secret = config.auth.agentClientSecret;
  if (!secret) {
    if (config.auth.provider === "embedded") {
      report.warn("agent-token", "Agent token not checked: the embedded server generates AGENT_CLIENT_SECRET on first start; set it to check the agent token here");
    } else {
      report.fail("agent-token", "Agent token not checked: AGENT_CLIENT_SECRET is not set", undefined, ["Set AGENT_CLIENT_SECRET to the application's client secret."]);
    }
    return undefined;
  }
  let token: TokenResult;
  try {
    token = await createIdentityServerProfile(config, { clientSecret: secret, fetch }).getAgentToken();
  } catch (error) {
    if (error instanceof ProtocolError && isClientChallenge(error)) {
      // RFC 6749 §5.2: a 401 with WWW-Authenticate is invalid_client for a client that used
      // HTTP Basic; openid-client reports it before reading the body, as a transport error.
      report.fail("agent-token", "The agent cannot get its token: invalid_client (HTTP 401 challenge)", undefined, agentTokenHints(config.auth.provider, "invalid_client"));
    } else if (error instanceof ProtocolError) {
      const hints = error.retryable ? unreachableHints(config, error.description, config.auth.issuer) : agentTokenHints(config.auth.provider, error.code, error.description);
      report.fail("agent-token", `The agent cannot get its token: ${error.code}`, error.description, hints);
    } else {
      report.fail("agent-token", "The agent cannot get its token", error instanceof Error ? error.message : String(error));
    }
    return undefined;
  }
  const c = token.claims;
  const seconds = Math.round((token.expiresAt.getTime() - Date.now()) / 1000);
  report.ok("agent-token", `Agent token obtained: sub ${c.sub ?? "?"}, scope ${token.scopes.join(" ") || "none"}, aud ${[c.aud ?? "?"].flat().join(" ")}, expires in ${seconds} s`);
  if (token.claims.opaque) {
    report.fail("agent-token.type", "The agent token is not a JWT: the MCP server cannot verify it", undefined, TOKEN_TYPE_HINTS[config.auth.provider]);
    return token;
  }
  checkScopes(report, config, token);
  checkSubject(report, config, token);
  await checkMcpAcceptance(report, config, token, fetch);
  return token;
}

function isClientChallenge(error: ProtocolError): boolean {
  return error.retryable && /WWW-Authenticate/i.test(error.description);
}

function checkScopes(report: DoctorReport, config: AppConfig, token: TokenResult): void {
  const scopes = token.scopes.length ? token.scopes : scopesOf(token.claims.scope);
  if (!scopes.includes(SCOPE_READ)) {
    report.fail("agent-token.scope", "Scope not authorized: the agent token lacks stock:read (the agent cannot read prices)", `granted: ${scopes.join(" ") || "none"}`, SCOPE_HINTS[config.auth.provider]);
  } else if (scopes.includes(SCOPE_TRADE)) {
    report.fail("agent-token.scope", "Scope too broad: the agent's own token carries stock:trade", "Only Alice's approval may add stock:trade; an agent that holds it needs no approval.", BROAD_SCOPE_HINTS[config.auth.provider]);
  } else {
    report.ok("agent-token.scope", "The agent token has stock:read and not stock:trade");
  }
}

function checkSubject(report: DoctorReport, config: AppConfig, token: TokenResult): void {
  const sub = token.claims.sub;
  if (config.auth.provider === "wso2" && sub !== config.agent.id) {
    report.fail("agent-token.sub", `The token's subject is ${sub}, AGENT_ID is ${config.agent.id}`, "The agent checks that the on-behalf-of token names it as act.sub.", [`Set AGENT_ID=${sub} (the Agent ID of Aurelius Bot).`]);
  } else if (config.auth.provider === "wso2" && token.claims.aut !== undefined && token.claims.aut !== "AGENT") {
    report.warn("agent-token.sub", `The token's aut is ${token.claims.aut}, not AGENT: did the agent sign in as a user?`);
  }
}

async function checkMcpAcceptance(report: DoctorReport, config: AppConfig, token: TokenResult, fetch: FetchLike): Promise<void> {
  try {
    const principal = await verifyAccessToken(token.accessToken, verifyOptionsFor(config));
    if (principal.subjectKind !== "agent") report.warn("mcp-audience", "The MCP server accepts the agent token but does not recognise its subject as the agent");
    else report.ok("mcp-audience", `The MCP server accepts the agent token (signature, iss, aud ${config.auth.audience})`);
  } catch (error) {
    const description = error instanceof Error ? error.message : String(error);
    const aud = [token.claims.aud ?? []].flat().join(", ");
    const hints = /aud/.test(description)
      ? [`MCP_AUDIENCE is ${config.auth.audience}; the token's audience is ${aud || "missing"}.`, config.auth.provider === "wso2" ? "For WSO2 leave MCP_AUDIENCE unset (the client id)." : "Set MCP_AUDIENCE to the API identifier the agent asks for."]
      : /iss/.test(description)
        ? [`The MCP server trusts ${await trustedIssuer(config.auth, fetch).catch(() => config.auth.issuer)}; the token's issuer is ${token.claims.iss}.`, "Leave AUTH_ISSUER unset or set it to the token's issuer."]
        : ["Check AUTH_JWKS_URI and the server's signing keys."];
    report.fail("mcp-audience", "The MCP server would refuse the agent token", description, hints);
  }
}

/** The CIBA endpoint, asked without a login_hint: it authenticates the client, then refuses; nobody is notified. */
export async function checkCibaEndpoint(report: DoctorReport, config: AppConfig, fetch: FetchLike, announced?: string): Promise<void> {
  const endpoints = tenantEndpoints(config);
  const endpoint = endpoints.ciba ?? announced;
  const secret = config.auth.agentClientSecret;
  if (!endpoint || !secret) return report.warn("ciba", "CIBA endpoint not probed (no endpoint or no AGENT_CLIENT_SECRET)");
  const result = await probeCiba(fetch, endpoint, config, secret, endpoints.clientAuth);
  if (result.kind === "unreachable") return report.fail("ciba", `CIBA endpoint unreachable at ${endpoint}`, result.message, unreachableHints(config, result.message, endpoint));
  const e = oauthError(result);
  if (result.status === 404 || !e) return report.fail("ciba", `CIBA endpoint ${endpoint} answered HTTP ${result.status} without an OAuth error`, undefined, cibaHints(config.auth.provider, "unauthorized_client"));
  const clientRefused = e.error === "invalid_client" || e.error === "unauthorized_client" || (e.error === "access_denied" && result.status === 401);
  if (clientRefused) return report.fail("ciba", `The CIBA endpoint refuses the client: ${e.error}`, e.description, cibaHints(config.auth.provider, e.error, e.description));
  if (config.auth.provider === "wso2") {
    if (e.error === "invalid_binding_message") return report.ok("ciba", "The CIBA endpoint accepts the client and its CIBA grant (the probe's binding_message was refused before any user was looked up; nobody was notified)");
    if (e.error === "invalid_request" && isUnknownWso2User(e.description)) return report.ok("ciba", "The CIBA endpoint accepts the client and its CIBA grant (the probe's login_hint names nobody; nobody was notified)");
  } else if (e.error === "invalid_request") {
    return report.ok("ciba", "The CIBA endpoint accepts the client (a probe without login_hint was refused as invalid_request; nobody was notified)");
  }
  report.warn("ciba", `The CIBA endpoint answered the probe with ${e.error}`, e.description);
}

/** Whether approval requests will reach Alice; a real request only with --send-test-approval. */
export async function checkUser(report: DoctorReport, config: AppConfig, fetch: FetchLike, agentToken: TokenResult | undefined, send: boolean): Promise<void> {
  const { userId, email } = config.investor;
  // Every configured investor is named to the server by her id: a malformed one fails only when her agent first asks.
  for (const investor of config.investors) {
    if (config.auth.provider === "auth0" && !/^[^|\s]+\|[^|\s]+$/.test(investor.userId)) {
      const setting = investor.userId === userId ? "INVESTOR_USER_ID" : `INVESTORS entry for ${investor.name}`;
      report.fail("user.id", `${setting}: ${investor.userId} is not an Auth0 user id`, "Auth0's login_hint names the user by id, like auth0|65f0c0ffee…", cibaHints("auth0", "unknown_user_id"));
    }
  }
  if (config.auth.provider === "wso2" && userId === "alice") {
    report.warn("user.id", "INVESTOR_USER_ID is still the default 'alice'", "The on-behalf-of token's sub must equal it, or trades are refused (the recorded-approval rule looks the order up for that user).", [
      "Set INVESTOR_USER_ID to Alice's User ID (User Management → Users → Alice).",
    ]);
  }
  if (!send) {
    const who = config.auth.provider === "auth0" ? `INVESTOR_USER_ID ${userId}` : `INVESTOR_EMAIL ${email}`;
    report.warn("user", `Not checked whether ${who} resolves to a user: that needs a real approval request`, undefined, [
      "Run `npm run doctor -- --send-test-approval` to send one (Alice is notified; deny it).",
    ]);
    return;
  }
  if (!agentToken || !config.auth.agentClientSecret) return report.fail("user", "No test approval sent: the agent has no token");
  const profile = createIdentityServerProfile(config, { clientSecret: config.auth.agentClientSecret, fetch });
  const order = freezeOrder({ symbol: config.market.symbol, side: "buy", quantity: 1, limitPriceCents: config.market.initialPriceCents, maxNotionalCents: config.market.initialPriceCents, expiresAt: new Date(Date.now() + 300_000) });
  const bindingMessage = `DOCTOR TEST please deny #${randomBytes(2).toString("hex").toUpperCase()}`;
  try {
    const ack = await profile.startCiba({ order, bindingMessage, actorToken: agentToken.accessToken, requestedExpirySeconds: 60 });
    report.warn("user.sent", `Sent a REAL approval request to ${config.investor.name} ("${bindingMessage}"): deny it. The order is not stored, so it can never execute.`, `auth_req_id accepted, expires in ${ack.expiresIn} s, poll interval ${ack.interval ?? 5} s`, notificationHints(config.auth.provider));
    report.ok("user", `The server resolved the user and accepted the approval request`);
  } catch (error) {
    if (error instanceof ProtocolError) {
      const hints = error.retryable ? unreachableHints(config, error.description, config.auth.issuer) : cibaHints(config.auth.provider, error.code, error.description);
      report.fail("user", `The approval request was refused: ${error.code}`, error.description, hints);
    } else {
      report.fail("user", "The approval request failed", error instanceof Error ? error.message : String(error));
    }
  }
}
