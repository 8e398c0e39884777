import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAudit } from "@/lib/ledger/audit";
import { afterAgentTicks, agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { openTestDb } from "../helpers/store";
import { startWso2Fake, type Wso2Fake } from "../fakes/wso2-fake";
import { wso2EnvFor } from "../helpers/wso2-env";

/**
 * The whole flow with AUTH_PROVIDER=wso2 and nothing else changed but configuration: the built
 * app (agent loop with the rules model, /mcp broker) against the WSO2 fake. The agent signs in
 * with app-native authentication, meets the broker's 403, asks Alice through CIBA with its token
 * as actor_token, and after the fake's approval trades once with the OBO token (act.sub = agent).
 * WSO2 issues no authorization_details, so the broker applies the "recorded-approval" rule.
 * The app is configured with the tutorial's base URL, `/t/carbon.super`, whose issuer WSO2 names
 * without the tenant path: the agent and /mcp trust the issuer its discovery document names.
 */
const ALICE_ID = "5d4c3b2a-1e0f-4a9b-8c7d-alice";
let fake: Wso2Fake;
let app: AppServer;

beforeAll(async () => {
  fake = await startWso2Fake({ orgPath: "/t/carbon.super" });
  app = await startApp({
    ...wso2EnvFor(fake),
    INVESTOR_EMAIL: "alice@example.com",
    INVESTOR_USER_ID: ALICE_ID,
    // A threshold just under the opening price: a crash crosses it within seconds.
    PRICE_THRESHOLD: "148.00",
    AGENT_COOLDOWN_SECONDS: "60",
  });
  // The dashboard signs Alice in at the tenant: its callback is the app's, known now.
  fake.registerDashboardCallback(`${app.url}/auth/callback`);
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe("agent flow against WSO2 (fake)", () => {
  it("signs in with app-native authentication: sub = agent, aut AGENT, aud = client id, stock:read only", async () => {
    const agent = await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null, 30_000, "agent token");
    expect(agent.authProvider).toBe("wso2");
    expect(agent.binding).toBe("recorded-approval");
    expect(agent.tokens.agent).toMatchObject({ sub: fake.options.agentId, aut: "AGENT", aud: fake.options.clientId, scope: "openid stock:read", iss: fake.issuer });
    expect(fake.issuer).not.toBe(`${fake.base}/oauth2/token`);
    const metadata = (await (await fetch(`${app.url}/.well-known/oauth-protected-resource/mcp`)).json()) as { authorization_servers: string[] };
    expect(metadata.authorization_servers).toEqual([fake.issuer]);
    expect(fake.requestsTo("/oauth2/authorize").length).toBeGreaterThanOrEqual(1);
    expect(fake.requestsTo("/oauth2/authn").length).toBeGreaterThanOrEqual(1);
  });

  it("crash → 403 → CIBA → approve → exactly one trade for Alice by the agent", async () => {
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const request = await fake.waitForCiba(1, 45_000);
    const waiting = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending", 10_000, "AWAITING_APPROVAL");
    const order = waiting.order!;

    // The backchannel request, field by field.
    const sent = fake.requestsTo("/oauth2/ciba").at(-1)!;
    expect(sent.path).toBe("/t/carbon.super/oauth2/ciba");
    expect(sent.basic).toEqual({ id: fake.options.clientId, secret: fake.options.clientSecret });
    expect(request.form).toMatchObject({
      scope: "openid stock:read stock:trade",
      login_hint: "alice@example.com",
      binding_message: waiting.approval!.bindingMessage,
      notification_channel: "email",
      actor_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    expect(request.form.authorization_details).toBeUndefined();
    expect(decodeJwt(request.form.actor_token!)).toMatchObject({ sub: fake.options.agentId, aut: "AGENT" });
    expect(waiting.approval!.intervalSeconds).toBe(2);
    expect((await dashboardOf(app.url)).trades).toEqual([]);

    fake.approve(request.authReqId);
    const done = await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 30_000, "DONE");
    expect(done.order).toMatchObject({ orderId: order.orderId, status: "executed" });
    expect(done.tokens.obo).toMatchObject({ sub: ALICE_ID, act: { sub: fake.options.agentId }, aut: "APPLICATION_USER", scope: "openid stock:read stock:trade" });
    expect(done.tokens.obo?.authorization_details).toBeUndefined();

    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.trades[0]).toMatchObject({ userSub: ALICE_ID, actorSub: fake.options.agentId, orderId: order.orderId, quantity: order.quantity, side: "buy", bindingRule: "recorded-approval" });
    const kinds = state.activity.map((e) => e.kind);
    expect(kinds).toContain("agent.transaction_challenge");
    expect(state.activity.find((e) => e.kind === "mcp.trade")?.message).toMatch(new RegExp(`for ${ALICE_ID} by ${fake.options.agentId} \\(order ${order.orderId}, rule recorded-approval\\)`));

    // The approval was polled at WSO2's interval, never answered with slow_down.
    const polls = fake.requestsTo("/oauth2/token").filter((r) => r.form?.grant_type === "urn:openid:params:grant-type:ciba");
    expect(polls.length).toBeGreaterThanOrEqual(1);
    expect(state.activity.some((e) => e.kind === "agent.slow_down")).toBe(false);

    expect(await afterAgentTicks(app.url)).toMatchObject({ state: "DONE", order: { orderId: order.orderId } });
    expect((await dashboardOf(app.url)).trades).toHaveLength(1);
    expect(fake.ciba).toHaveLength(1);
  });

  it("a sign-in as another user (WSO2: access_denied): no trade, DENIED, and the log does not claim Alice denied", async () => {
    expect((await press(app.url, "/api/market/reset")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null, 10_000, "MONITORING after reset");
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const request = await fake.waitForCiba(2, 45_000);
    fake.signInAsAnotherUser(request.authReqId);
    const denied = await waitUntil(() => agentOf(app.url), (a) => a.state === "DENIED", 20_000, "DENIED");
    expect(denied.approval?.status).toBe("denied");
    expect(denied.order?.status).toBe("denied");
    const state = await dashboardOf(app.url);
    expect(state.trades).toEqual([]);
    const line = state.activity.find((e) => e.kind === "agent.denied")?.message;
    expect(line).toMatch(/access_denied \("User denied authentication"\): Alice denied it, or the approver signed in as another user than Alice, or the sign-in failed/);
  });

  it("the MCP audit names Alice as sub and the agent as actor, with the recorded-approval rule", async () => {
    await app.stop();
    const db = await openTestDb(app.dataDir);
    try {
      const audit = await listAudit(db, 500);
      const allowed = audit.filter((r) => r.tool === "buy_stock" && r.decision === "allowed");
      expect(allowed).toHaveLength(1);
      expect(allowed[0]).toMatchObject({ sub: ALICE_ID, actorChain: { sub: fake.options.agentId }, clientId: fake.options.clientId, bindingRule: "recorded-approval" });
      expect(allowed[0]!.jti).toMatch(/^[0-9a-f-]{36}$/);
      const refused = audit.filter((r) => r.tool === "buy_stock" && r.decision === "refused");
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(refused.every((r) => r.sub === fake.options.agentId && r.reason?.startsWith("insufficient_authorization"))).toBe(true);
    } finally {
      await db.close();
    }
  });
});
