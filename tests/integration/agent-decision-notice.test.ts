import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";

/**
 * Alice's decision reaches the agent at once. The embedded identity server tells the agent
 * in-process that a request was decided (its stand-in for CIBA ping mode, whose notification
 * endpoint must be https), and the agent polls right away instead of at the next interval; the
 * token is still redeemed over HTTP, and the server never answers that poll with slow_down.
 *
 * The interval here is 30 s and the agent's first poll is due 30 s after the request: an agent
 * that only polls on its timer cannot end these cases within the 15 s they are given.
 */
const PASSWORD = "alice-test-password-notice";
let app: AppServer;
let alice: Alice;
const seenMail: string[] = [];

beforeAll(async () => {
  app = await startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_COOLDOWN_SECONDS: "1", CIBA_INTERVAL_SECONDS: "30" });
  alice = new Alice(app.url, "alice@example.com", PASSWORD);
});
afterAll(async () => {
  await app?.stop();
});

async function crashAndWaitForMail() {
  expect((await press(app.url, "/api/market/crash")).status).toBe(200);
  const mail = await alice.waitForApprovalMail(seenMail, 45_000);
  seenMail.push(mail.id);
  const agent = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL" && a.approval?.status === "pending", 10_000, "AWAITING_APPROVAL");
  expect(agent.approval?.intervalSeconds).toBe(30);
  return mail;
}

describe("the decision notice of the embedded identity server", () => {
  it("approve: the trade lands long before the agent's next poll was due, without slow_down", async () => {
    const mail = await crashAndWaitForMail();
    await alice.decide(mail.approve, "approve");
    const done = await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 15_000, "DONE after the approval");
    expect(done.order?.status).toBe("executed");
    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.activity.map((e) => e.kind)).not.toContain("agent.slow_down");
  });

  it("deny: the agent records DENIED at once, and no trade", async () => {
    expect((await press(app.url, "/api/market/reset")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING", 10_000, "MONITORING after reset");
    const mail = await crashAndWaitForMail();
    await alice.decide(mail.deny, "deny");
    const denied = await waitUntil(() => agentOf(app.url), (a) => a.approval?.status === "denied", 15_000, "denied after the decision");
    expect(denied.order?.status).toBe("denied");
    expect((await dashboardOf(app.url)).trades).toEqual([]);
  });
});
