import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatMoney } from "@/lib/money";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { asInvestor } from "../helpers/investor-session";

/**
 * Standing delegation end to end over real HTTP, against the built app: its routes refuse anyone
 * but Alice (session, then origin, then size, then shape) and change nothing when they do; Alice
 * grants a mandate, approves it on the authorization server's approval page, and then a small
 * trade lands without an approval mail while a trade past the day's amount asks her for the exact
 * order; revoking it ends it.
 */
const PASSWORD = "alice-test-password-mandate";
const ROUTE = "/api/standing-mandate";
let app: AppServer;
let alice: Alice;
const seenMail: string[] = [];

type View = { supported: boolean; mandate: null | { mandate_id: string; status: string; spent_today: string; max_per_trade: string; max_per_day: string } };
const view = async (): Promise<View> => (await (await asInvestor(app.url, ROUTE)).json()) as View;
const send = (method: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${app.url}${ROUTE}`, { method, headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
const asAlice = (method: string, body: unknown) =>
  asInvestor(app.url, ROUTE, { method, headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

let budgetCents: number;
const grant = () => ({
  symbol: "NVDA",
  // One order of the agent's budget fits a trade; two do not fit a day.
  max_per_trade: formatMoney(budgetCents),
  max_per_day: formatMoney(Math.round(budgetCents * 1.5)),
  expires_at: new Date(Date.now() + 86_400_000).toISOString(),
});

beforeAll(async () => {
  app = await startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_COOLDOWN_SECONDS: "60" });
  alice = new Alice(app.url, "alice@example.com", PASSWORD);
  const agent = await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null, 30_000, "agent token");
  budgetCents = agent.mandate.budgetCents;
});
afterAll(async () => {
  await app?.stop();
});

describe("the routes, attacked", () => {
  it("answer 401 login_required without Alice's session, and change nothing", async () => {
    expect((await fetch(`${app.url}${ROUTE}`)).status).toBe(401);
    for (const [method, body] of [["POST", grant()], ["DELETE", { mandate_id: "mdt_0123456789abcdef0123" }]] as const) {
      const res = await send(method, body, { origin: app.url });
      expect(res.status, method).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe("login_required");
    }
    expect((await view()).mandate).toBeNull();
  });

  it("refuse another origin (403), an oversized body (413) and a body of the wrong shape (400)", async () => {
    const cookie = (await asInvestor(app.url, ROUTE)).ok;
    expect(cookie).toBe(true);
    const foreign = await asInvestor(app.url, ROUTE, { method: "POST", headers: { "content-type": "application/json", origin: "http://localhost:1" }, body: JSON.stringify(grant()) });
    expect(foreign.status).toBe(403);
    expect((await asAlice("POST", JSON.stringify({ ...grant(), pad: "x".repeat(5000) }))).status).toBe(413);
    for (const bad of [
      { ...grant(), max_per_trade: "100.00", max_per_day: "50.00" },
      { ...grant(), expires_at: new Date(Date.now() - 1000).toISOString() },
      { ...grant(), extra: 1 },
      { ...grant(), max_per_trade: "-5" },
      "not json",
    ]) {
      const res = await asAlice("POST", bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
    }
    expect((await asAlice("DELETE", { mandate_id: "not-an-id" })).status).toBe(400);
    expect((await view()).mandate).toBeNull();
  });
});

describe("a standing mandate Alice grants", () => {
  it("is approved on the approval page; a small trade then lands without an approval mail", async () => {
    const asked = await asAlice("POST", grant());
    expect(asked.status).toBe(202);
    expect(((await asked.json()) as { mandate: { status: string } }).mandate.status).toBe("requested");
    const mail = await alice.waitForApprovalMail(seenMail, 20_000);
    seenMail.push(mail.id);
    expect(await alice.decide(mail.approve, "approve")).toContain('data-status="approved"');
    const granted = await waitUntil(view, (v) => v.mandate?.status === "granted", 20_000, "mandate granted");
    expect(granted.mandate!.spent_today).toBe("0.00");

    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const done = await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 60_000, "trade under the mandate");
    const state = await dashboardOf(app.url);
    expect(state.trades).toHaveLength(1);
    expect(state.trades[0]).toMatchObject({ userSub: "alice", actorSub: "aurelius", orderId: done.order!.orderId, bindingRule: "mandate" });
    expect((await view()).mandate!.spent_today).toBe(formatMoney(state.trades[0]!.notionalCents));
    // No approval mail for that order.
    const mails = await alice.inbox();
    expect(mails.filter((m) => !seenMail.includes(m.id))).toEqual([]);
  }, 120_000);

  it("asks Alice for the exact order once the day's amount would be passed", async () => {
    expect((await press(app.url, "/api/market/reset")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null, 10_000, "MONITORING after reset");
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    const mail = await alice.waitForApprovalMail(seenMail, 60_000);
    seenMail.push(mail.id);
    const agent = await waitUntil(() => agentOf(app.url), (a) => a.state === "AWAITING_APPROVAL", 10_000, "AWAITING_APPROVAL");
    expect(agent.approval?.status).toBe("pending");
    const activity = (await dashboardOf(app.url)).activity;
    expect(activity.some((e) => e.kind === "agent.mandate" && e.message.includes("mandate_daily_limit_exceeded"))).toBe(true);
    expect((await dashboardOf(app.url)).trades).toEqual([]);
  }, 120_000);

  it("is revoked by Alice: the record says so and the agent no longer holds it", async () => {
    const id = (await view()).mandate!.mandate_id;
    const res = await asAlice("DELETE", { mandate_id: id });
    expect(res.status).toBe(200);
    expect((await view()).mandate).toBeNull();
    expect((await asAlice("DELETE", { mandate_id: id })).status).toBe(404);
  });

  it("ends with the kill switch: a granted mandate is revoked with the agent", async () => {
    expect((await asAlice("POST", grant())).status).toBe(202);
    const mail = await alice.waitForApprovalMail(seenMail, 20_000);
    seenMail.push(mail.id);
    await alice.decide(mail.approve, "approve");
    const granted = await waitUntil(view, (v) => v.mandate?.status === "granted", 20_000, "mandate granted");
    const revoked = await asInvestor(app.url, "/api/agent/revoke", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(revoked.status).toBe(200);
    expect((await view()).mandate).toBeNull();
    const activity = (await dashboardOf(app.url)).activity;
    expect(activity.some((e) => e.kind === "agent.revoked" && e.message.includes("1 standing mandate(s) revoked"))).toBe(true);
    expect(granted.mandate!.mandate_id).toMatch(/^mdt_/);
  }, 60_000);
});
