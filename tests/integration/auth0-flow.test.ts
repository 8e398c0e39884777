import { asInvestor } from "../helpers/investor-session";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAudit } from "@/lib/ledger/audit";
import { afterAgentTicks, agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { openTestDb } from "../helpers/store";
import { startAuth0Fake, type Auth0Fake } from "../fakes/auth0-fake";

/**
 * The whole flow with AUTH_PROVIDER=auth0 and nothing else changed but configuration: the built
 * app (agent loop with the rules model, /mcp broker) against the Auth0 fake. The agent gets its
 * token by client credentials, meets the broker's 403, asks Alice through /bc-authorize with the
 * order in Guardian's RAR schema, and after the fake's approval trades once with her token: `sub`
 * = Alice, the actor is the agent's client (`azp`), the order granted back in Auth0's schema.
 */
const ALICE_ID = "auth0|65f0c0ffee0000000000alice";
const API = "https://broker.example.com/mcp";
let fake: Auth0Fake;
let app: AppServer;

beforeAll(async () => {
  fake = await startAuth0Fake();
  app = await startApp({
    AUTH_PROVIDER: "auth0",
    AUTH0_DOMAIN: fake.origin,
    AGENT_CLIENT_ID: fake.options.clientId,
    AGENT_CLIENT_SECRET: fake.options.clientSecret,
    DASHBOARD_CLIENT_ID: fake.dashboard.clientId,
    DASHBOARD_CLIENT_SECRET: fake.dashboard.clientSecret,
    MCP_AUDIENCE: API,
    INVESTOR_USER_ID: ALICE_ID,
    PRICE_THRESHOLD: "148.00",
    AGENT_COOLDOWN_SECONDS: "60",
    // Short, so that the expiry case below runs out quickly: polls at 5 s (pending) and 10 s
    // (Auth0's access_denied for the expired request).
    AGENT_APPROVAL_EXPIRY_SECONDS: "10",
  });
  // The dashboard signs Alice in at the tenant: its callback is the app's, known now.
  fake.registerDashboardCallback(`${app.url}/auth/callback`);
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe("agent flow against Auth0 (fake)", () => {
  it("gets its token by client credentials: sub = client@clients, audience = the API, stock:read only", async () => {
    const agent = await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null, 30_000, "agent token");
    expect(agent.authProvider).toBe("auth0");
    expect(agent.binding).toBe("rar");
    expect(agent.agent.id).toBe(fake.options.clientId);
    expect(agent.tokens.agent).toMatchObject({ sub: `${fake.options.clientId}@clients`, azp: fake.options.clientId, aud: API, scope: "stock:read", iss: `${fake.origin}/` });
  });

  it("shows the assurance in force at Auth0: the order in the token, and a bearer trade token (Auth0 does not sender-constrain CIBA)", async () => {
    const res = await asInvestor(app.url, "/api/agent/assurance");
    expect(res.status).toBe(200);
    const assurance = (await res.json()) as { provider: string; guarantees: { id: string; state: string; basis: string[] }[] };
    expect(assurance.provider).toBe("auth0");
    expect(Object.fromEntries(assurance.guarantees.map((g) => [g.id, g.state]))).toEqual({ "order-in-token": "holds", "recorded-approval": "not-in-force", dpop: "not-in-force" });
    // Read from the tenant's discovery document, which names no authorization_details types.
    expect(assurance.guarantees[0]!.basis).toContain("The server does not advertise authorization_details types (authorization_details_types_supported).");
  });

  it("crash → 403 → CIBA → approve → exactly one trade for Alice by the agent's client", async () => {
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const request = await fake.waitForCiba(1, 45_000);
    const waiting = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending", 10_000, "AWAITING_APPROVAL");
    const order = waiting.order!;

    expect(request.form).toMatchObject({
      client_id: fake.options.clientId,
      scope: "openid stock:read stock:trade",
      audience: API,
      login_hint: `{"format":"iss_sub","iss":"${fake.origin}/","sub":"${ALICE_ID}"}`,
      binding_message: waiting.approval!.bindingMessage,
      requested_expiry: "10",
    });
    expect(request.form.actor_token).toBeUndefined();
    const [detail] = JSON.parse(request.form.authorization_details!) as { type: string; properties: Record<string, { value: string }> }[];
    expect(detail!.type).toBe("urn:auth0:schemas:authorization-details:v1:stock_trade");
    expect(detail!.properties.order_id!.value).toBe(order.orderId);
    expect(detail!.properties.quantity!.value).toBe(String(order.quantity));
    expect(detail!.properties.limit_price!.value).toBe(order.limitPrice);
    expect(waiting.approval!.intervalSeconds).toBe(5);
    expect((await dashboardOf(app.url)).trades).toEqual([]);

    fake.approve(request.authReqId);
    const done = await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 30_000, "DONE");
    expect(done.order).toMatchObject({ orderId: order.orderId, status: "executed" });
    expect(done.tokens.obo).toMatchObject({ sub: ALICE_ID, azp: fake.options.clientId, scope: "openid stock:read stock:trade" });
    expect(done.tokens.obo?.act).toBeUndefined();
    expect(done.tokens.obo?.authorization_details).toEqual([detail]);

    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.trades[0]).toMatchObject({ userSub: ALICE_ID, actorSub: fake.options.clientId, orderId: order.orderId, quantity: order.quantity, side: "buy", bindingRule: "rar" });
    expect(state.activity.map((e) => e.kind)).toContain("agent.transaction_challenge");

    expect(await afterAgentTicks(app.url)).toMatchObject({ state: "DONE", order: { orderId: order.orderId } });
    expect((await dashboardOf(app.url)).trades).toHaveLength(1);
    expect(fake.ciba).toHaveLength(1);
  });

  it("expiry (Auth0 says access_denied): EXPIRED, not denied, and no trade", async () => {
    expect((await press(app.url, "/api/market/reset")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null, 10_000, "MONITORING after reset");
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const request = await fake.waitForCiba(2, 45_000);
    const expired = await waitUntil(() => agentOf(app.url), (a) => a.state === "EXPIRED" || a.state === "DENIED", 40_000, "EXPIRED");
    // The fake answered a poll after the expiry with access_denied (it marks the request then).
    expect(request.state).toBe("expired");
    expect(expired.state).toBe("EXPIRED");
    expect(expired.approval?.status).toBe("expired");
    expect(expired.order?.status).toBe("expired");
    expect((await dashboardOf(app.url)).trades).toEqual([]);
  });

  it("the MCP audit names Alice as sub and the agent's client, with the rar rule", async () => {
    await app.stop();
    const db = await openTestDb(app.dataDir);
    try {
      const allowed = (await listAudit(db, 500)).filter((r) => r.tool === "buy_stock" && r.decision === "allowed");
      expect(allowed).toHaveLength(1);
      expect(allowed[0]).toMatchObject({ sub: ALICE_ID, clientId: fake.options.clientId, actorChain: null, bindingRule: "rar", scopes: "openid stock:read stock:trade" });
    } finally {
      await db.close();
    }
  });
});
