import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startAgentProxy, type AgentProxy } from "../helpers/agent-proxy";
import { startApp, waitForBuild, type AppServer } from "../helpers/app-server";

/**
 * When Alice does not answer, and when the identity server is unreachable in the middle of
 * polling: no trade in either case, and in the second the agent keeps the request and finishes
 * the job once the server is back.
 */
const PASSWORD = "alice-test-password-2";
const apps: AppServer[] = [];
let proxy: AgentProxy | undefined;

afterAll(async () => {
  for (const a of apps) await a.stop();
  await proxy?.close();
});

// The tests start the app themselves: the build comes first, outside their time limit.
beforeAll(waitForBuild);

describe("agent resilience", () => {
  it("expire: Alice never answers, the request expires, nothing is bought", async () => {
    const app = await startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_APPROVAL_EXPIRY_SECONDS: "10" });
    apps.push(app);
    const alice = new Alice(app.url, "alice@example.com", PASSWORD);
    await press(app.url, "/api/market/crash");
    const mail = await alice.waitForApprovalMail([], 45_000);
    const pending = await waitUntil(() => agentOf(app.url), (a) => a.approval?.status === "pending", 10_000, "pending approval");
    expect(Date.parse(pending.approval!.expiresAt) - Date.parse(pending.approval!.createdAt)).toBeLessThanOrEqual(10_500);

    const expired = await waitUntil(() => agentOf(app.url), (a) => a.state === "EXPIRED", 25_000, "EXPIRED");
    expect(expired.approval?.status).toBe("expired");
    expect(expired.order?.status).toBe("expired");
    expect(expired.cooldownUntil).not.toBeNull();
    // Too late: the page says so and offers no decision.
    await expect(alice.decide(mail.approve, "approve")).rejects.toThrow(/no decision form/);
    expect((await dashboardOf(app.url)).trades).toEqual([]);
    expect((await dashboardOf(app.url)).activity.some((e) => e.kind === "agent.expired")).toBe(true);
    // Start-up and the waits above add up to more than the default limit on a loaded machine.
  }, 150_000);

  it("identity server down mid-poll: no trade while it is down, the request is kept, the trade happens once it is back", async () => {
    proxy = await startAgentProxy();
    const app = await startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_INTERNAL_URL: proxy.url });
    apps.push(app);
    proxy.target = app.url;
    const alice = new Alice(app.url, "alice@example.com", PASSWORD);
    await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null, 30_000, "agent token through the proxy");

    await press(app.url, "/api/market/crash");
    const mail = await alice.waitForApprovalMail([], 45_000);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL", 10_000, "AWAITING_APPROVAL");

    proxy.blockIdp = true;
    const down = await waitUntil(() => agentOf(app.url), (a) => a.approval?.lastError !== null && a.approval?.lastError !== undefined, 20_000, "a failed poll recorded");
    expect(down.state).toBe("AWAITING_APPROVAL");
    expect(down.approval?.status).toBe("pending");
    // Alice approves while the agent cannot reach the server (she reaches it directly).
    await alice.decide(mail.approve, "approve");
    // The agent polls once more after her approval, is cut off again, and trades nothing.
    const blockedBefore = proxy.blocked;
    await waitUntil(async () => proxy!.blocked, (n) => n > blockedBefore, 30_000, "a poll after the approval, blocked");
    expect((await dashboardOf(app.url)).trades).toEqual([]);
    expect((await agentOf(app.url)).state).toBe("AWAITING_APPROVAL");
    expect(proxy.blocked).toBeGreaterThan(1);
    const log = (await dashboardOf(app.url)).activity;
    expect(log.filter((e) => e.kind === "agent.idp_unreachable")).toHaveLength(1);

    proxy.blockIdp = false;
    const done = await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 90_000, "DONE after the server is back");
    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.trades[0]).toMatchObject({ orderId: done.order!.orderId, userSub: "alice", actorSub: "aurelius" });
    expect(state.activity.some((e) => e.kind === "agent.idp_back")).toBe(true);
  });
});
