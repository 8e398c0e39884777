import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { afterAgentTicks, agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";

/**
 * The agent learns of a new price from the broker, not from its timer: in the built app its own
 * timer is set to an hour (AGENT_PRICE_POLL_SECONDS=3600), so after its first check at start-up
 * only the price subscription (subscriptions/listen on market://NVDA/price, with its read-only
 * token over /mcp) can make it check again. An agent that only polled would neither follow the
 * market's ticks nor see the crash within the minutes these cases are given.
 */
let app: AppServer;

beforeAll(async () => {
  app = await startApp({ PRICE_THRESHOLD: "148.00", AGENT_PRICE_POLL_SECONDS: "3600", AGENT_COOLDOWN_SECONDS: "60" });
});
afterAll(async () => {
  await app?.stop();
});

describe("the agent's price subscription", () => {
  it("subscribes with its own token and checks the price on the market's ticks", async () => {
    await waitUntil(() => dashboardOf(app.url), (s) => s.activity.some((e) => e.kind === "agent.price_stream" && e.level === "debug"), 30_000, "the agent's subscription");
    const view = await afterAgentTicks(app.url, 3, 15_000);
    expect(view.state).toBe("MONITORING");
  });

  it("sends the CIBA request after a crash without a tick of its own timer", async () => {
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const agent = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL", 30_000, "the CIBA request");
    expect(agent.approval?.status).toBe("pending");
    const state = await dashboardOf(app.url);
    const crossing = state.history.find((t) => t.priceCents < 14800);
    const ciba = state.activity.find((e) => e.kind === "agent.ciba_sent");
    expect(crossing).toBeDefined();
    expect(ciba).toBeDefined();
    // The request follows the first tick below the threshold; an hour-long timer could not have.
    expect(Date.parse(ciba!.at)).toBeGreaterThanOrEqual(Date.parse(crossing!.at));
    expect(state.activity.filter((e) => e.kind === "agent.price_stream" && e.level === "warn")).toEqual([]);
  });
});
