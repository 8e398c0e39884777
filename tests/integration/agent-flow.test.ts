import { asInvestor } from "../helpers/investor-session";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { afterAgentTicks, agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";

/**
 * The whole flow over real HTTP in the built app: the agent loop with the rules model, the real
 * embedded identity server (CIBA, OBO tokens with authorization_details) and the real /mcp
 * broker. Alice decides on the identity server's approval page, reached from her mail.
 */
const PASSWORD = "alice-test-password-1";
let app: AppServer;
let alice: Alice;
const seenMail: string[] = [];

beforeAll(async () => {
  // A threshold just under the opening price: a crash crosses it within a few seconds.
  app = await startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_COOLDOWN_SECONDS: "60" });
  alice = new Alice(app.url, "alice@example.com", PASSWORD);
});
afterAll(async () => {
  await app?.stop();
});

async function crashAndWaitForMail() {
  const crash = await press(app.url, "/api/market/crash");
  expect(crash.status).toBe(200);
  const mail = await alice.waitForApprovalMail(seenMail, 45_000);
  seenMail.push(mail.id);
  const agent = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending", 10_000, "AWAITING_APPROVAL");
  return { mail, agent };
}

async function resetDemo() {
  expect((await press(app.url, "/api/market/reset")).status).toBe(200);
  await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null, 10_000, "MONITORING after reset");
}

describe("agent flow against the embedded identity server and /mcp", () => {
  it("obtains its agent token on start: sub = agent, scope openid stock:read, audience = the MCP server", async () => {
    const agent = await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null, 30_000, "agent token");
    expect(agent.running).toBe(true);
    expect(agent.model).toEqual({ label: "rules", kind: "rules" });
    expect(agent.tokens.agent).toMatchObject({ sub: "aurelius", scope: "openid stock:read", aud: `${app.url}/mcp`, iss: `${app.url}/oidc` });
    expect(agent.tokens.agent?.act).toBeUndefined();
    const activity = (await dashboardOf(app.url)).activity;
    expect(activity.find((e) => e.kind === "agent.token")?.message).toMatch(/^Agent token obtained, scope openid stock:read/);
  });

  it("approve: exactly one trade, for Alice, by the agent, for the order she approved", async () => {
    const { mail, agent } = await crashAndWaitForMail();
    const order = agent.order!;
    expect(order).toMatchObject({ symbol: "NVDA", side: "buy", status: "awaiting_approval" });
    const text = ((await (await asInvestor(app.url, `/api/inbox/${mail.id}`)).json()) as { text: string }).text;
    expect(text).toContain(agent.approval!.bindingMessage);
    // Nothing is bought before the approval.
    expect((await dashboardOf(app.url)).trades).toEqual([]);

    const page = await alice.decide(mail.approve, "approve");
    expect(page).toContain('data-status="approved"');
    const done = await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 20_000, "DONE");
    expect(done.order).toMatchObject({ orderId: order.orderId, status: "executed" });
    expect(done.tokens.obo).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", aud: `${app.url}/mcp` });
    expect(done.tokens.obo?.authorization_details).toEqual([
      { type: "stock_trade", order_id: order.orderId, symbol: "NVDA", side: "buy", quantity: order.quantity, limit_price: order.limitPrice, max_notional: order.maxNotional, expires_at: order.expiresAt },
    ]);

    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.trades[0]).toMatchObject({ userSub: "alice", actorSub: "aurelius", orderId: order.orderId, quantity: order.quantity, side: "buy", bindingRule: "rar" });
    expect(state.portfolio!.cashCents).toBe(1_000_000 - state.trades[0]!.notionalCents);
    const kinds = state.activity.map((e) => e.kind).reverse();
    const story = ["agent.threshold", "agent.model", "agent.recommendation", "agent.transaction_challenge", "agent.order", "agent.ciba_sent", "agent.waiting", "agent.approved", "agent.obo_token", "agent.trade"];
    const firstAt = story.map((k) => kinds.indexOf(k));
    expect(firstAt.every((i) => i >= 0)).toBe(true);
    expect([...firstAt].sort((a, b) => a - b)).toEqual(firstAt);

    // One trade per fall: the price stays low, but nothing more happens.
    expect(await afterAgentTicks(app.url)).toMatchObject({ state: "DONE", order: { orderId: order.orderId } });
    expect((await dashboardOf(app.url)).trades).toHaveLength(1);
    expect((await alice.inbox()).filter((m) => !seenMail.includes(m.id))).toEqual([]);
  });

  it("deny: no trade, DENIED, and no new request during the cooldown", async () => {
    await resetDemo();
    const { mail } = await crashAndWaitForMail();
    await alice.decide(mail.deny, "deny");
    const denied = await waitUntil(() => agentOf(app.url), (a) => a.state === "DENIED", 20_000, "DENIED");
    expect(denied.approval?.status).toBe("denied");
    expect(denied.order?.status).toBe("denied");
    expect(Date.parse(denied.cooldownUntil!)).toBeGreaterThan(Date.now() + 40_000);
    expect(await afterAgentTicks(app.url)).toMatchObject({ state: "DENIED", order: { orderId: denied.order!.orderId } });
    expect((await dashboardOf(app.url)).trades).toEqual([]);
    expect((await alice.inbox()).filter((m) => !seenMail.includes(m.id))).toEqual([]);
    expect((await agentOf(app.url)).state).toBe("DENIED");
  });

  it("restart while the approval is pending: the agent resumes polling and trades once after approval", async () => {
    await resetDemo();
    const { mail, agent } = await crashAndWaitForMail();
    await app.restart();
    const resumed = await waitUntil(() => agentOf(app.url), (a) => a.running, 20_000, "agent running after restart");
    expect(resumed.state).toBe("AWAITING_APPROVAL");
    expect(resumed.order?.orderId).toBe(agent.order!.orderId);

    await alice.decide(mail.approve, "approve");
    await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 30_000, "DONE after restart");
    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.trades[0]).toMatchObject({ orderId: agent.order!.orderId, userSub: "alice", actorSub: "aurelius" });
    expect(state.activity.some((e) => e.kind === "agent.start" && e.message.includes("(AWAITING_APPROVAL)"))).toBe(true);
    // No second request was sent for the same opportunity.
    expect((await alice.inbox()).filter((m) => !seenMail.includes(m.id))).toEqual([]);
  });

  it("refuses a control request from another origin, a bad mandate and an unknown action, and applies a good mandate", async () => {
    const stranger = await fetch(`${app.url}/api/agent/pause`, { method: "POST", headers: { origin: app.url, "content-type": "application/json" }, body: "{}" });
    expect(stranger.status).toBe(401);
    const foreign = await press(app.url, "/api/agent/pause", {}, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect((await agentOf(app.url)).paused).toBe(false);
    const bad = await press(app.url, "/api/agent/mandate", { threshold: "-1", budget: "100.00" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("invalid_request");
    const good = await press(app.url, "/api/agent/mandate", { threshold: "120.50", budget: "2500.00" });
    expect(good.status).toBe(200);
    expect((await agentOf(app.url)).mandate).toMatchObject({ thresholdCents: 12050, budgetCents: 250000, edited: true });
    expect((await dashboardOf(app.url)).thresholdCents).toBe(12050);
    const get = await fetch(`${app.url}/api/agent/pause`);
    expect(get.status).toBe(405);
    const unknown = await press(app.url, "/api/agent/explode");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toBe("not_found");
  });
});
