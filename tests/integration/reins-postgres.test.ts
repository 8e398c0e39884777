import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatMoney } from "@/lib/money";
import type { Db } from "@/lib/store/db";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import type { AppServer } from "../helpers/app-server";
import { startAgentPair, type AgentPair } from "../helpers/agent-pair";
import type { Cluster } from "../helpers/cluster";
import { asInvestor } from "../helpers/investor-session";

/**
 * Alice's reins taken on an instance that does not run her agent: two instances of the built app
 * on one real PostgreSQL, over real HTTP. The standing mandate's grant and revoke, the kill switch
 * and its re-enable, pressed on the other instance, reach the one that holds the agent's lease
 * (lib/agent/control.ts tellAgentOwner) and change what that agent does, not only the store.
 */
const PASSWORD = "alice-test-password-reins-pg";
let pair: AgentPair;
let cluster: Cluster;
let db: Db;
let alice: Alice;
let owner: AppServer;
let other: AppServer;
const seen: string[] = [];

const mandateRoute = (app: AppServer, method: string, body: unknown) =>
  asInvestor(app.url, "/api/standing-mandate", { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const mandateOf = async (app: AppServer) =>
  ((await (await asInvestor(app.url, "/api/standing-mandate")).json()) as { supported: boolean; mandate: null | { mandate_id: string; status: string } });
const count = async (sql: string) => (await db.query(sql)).length;

async function newFall(): Promise<void> {
  expect((await press(other.url, "/api/market/reset")).status).toBe(200);
  await waitUntil(() => agentOf(owner.url), (a) => a.state === "MONITORING" && a.order === null && a.armed, 10_000, "MONITORING on the owner");
  expect((await press(other.url, "/api/market/crash")).status).toBe(200);
}

describe("the reins on the instance that does not run the agent", () => {
  beforeAll(async () => {
    pair = await startAgentPair({ PRICE_THRESHOLD: "148.00", MARKET_TICK_MS: "250", CIBA_INTERVAL_SECONDS: "1", AGENT_COOLDOWN_SECONDS: "60", INVESTOR_PASSWORD: PASSWORD });
    ({ cluster, db, owner, other } = pair);
    alice = new Alice(cluster.lb.url, "alice@example.com", PASSWORD);
  }, 240_000);

  afterAll(async () => {
    await pair?.close();
  });

  it("grants a standing mandate asked for on the other instance: the owner's agent asks, holds the grant and trades under it without a mail", async () => {
    expect((await mandateOf(other)).supported).toBe(true);
    const budget = (await agentOf(owner.url)).mandate.budgetCents;
    const asked = await mandateRoute(other, "POST", {
      symbol: "NVDA",
      max_per_trade: formatMoney(budget),
      max_per_day: formatMoney(budget * 10),
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(asked.status).toBe(202);
    const mail = await alice.waitForApprovalMail(seen, 20_000);
    seen.push(mail.id);
    expect(await alice.decide(mail.approve, "approve")).toContain('data-status="approved"');
    await waitUntil(() => mandateOf(other), (v) => v.mandate?.status === "granted", 20_000, "granted");
    expect(await count("SELECT mandate_id FROM mandate_grants")).toBe(1);

    expect((await press(other.url, "/api/market/crash")).status).toBe(200);
    await waitUntil(() => agentOf(owner.url), (a) => a.state === "DONE", 60_000, "a trade under the mandate");
    expect((await dashboardOf(other.url)).trades).toEqual([expect.objectContaining({ bindingRule: "mandate" })]);
    expect((await alice.inbox()).filter((m) => !seen.includes(m.id))).toEqual([]);
  }, 120_000);

  it("revokes it on the other instance: the owner's agent forgets it and asks for the next order without trying it", async () => {
    const id = (await mandateOf(other)).mandate!.mandate_id;
    expect((await mandateRoute(other, "DELETE", { mandate_id: id })).status).toBe(200);
    expect(await count("SELECT mandate_id FROM mandate_grants")).toBe(0);
    await newFall();
    // The agent's view first: when it does not ask, its state and reason say why.
    await waitUntil(() => agentOf(owner.url), (a) => a.state === "AWAITING_APPROVAL", 60_000, "AWAITING_APPROVAL on the owner");
    const mail = await alice.waitForApprovalMail(seen, 30_000);
    seen.push(mail.id);
    // An agent that still held the mandate in memory would have tried it and logged the failed draw.
    const lines = (await dashboardOf(other.url)).activity.map((e) => e.message);
    expect(lines.some((m) => m.includes("Could not trade under the standing mandate"))).toBe(false);
    expect((await dashboardOf(other.url)).trades).toEqual([]);
  }, 240_000);

  it("pulls the kill switch on the other instance: the owner's agent stops and says why", async () => {
    expect((await press(other.url, "/api/agent/revoke")).status).toBe(200);
    const stopped = await waitUntil(() => agentOf(owner.url), (a) => a.reason?.startsWith("Access revoked") === true, 10_000, "the owner's agent revoked");
    expect(stopped.revocation).toMatchObject({ status: "revoked" });
    expect(stopped.approval?.status).not.toBe("pending");
  }, 60_000);

  it("re-enables on the other instance: the owner runs a new agent with the client's new secret, which reads prices again", async () => {
    const since = Date.now();
    expect((await press(other.url, "/api/agent/reenable")).status).toBe(200);
    const back = await waitUntil(
      () => agentOf(owner.url),
      (a) => a.running && a.tokens.agent !== null && a.lastPrice !== null && Date.parse(a.lastPrice.at) > since,
      30_000,
      "a new agent reading prices on the owner",
    );
    expect(back.revocation).toMatchObject({ status: "enabled" });
    expect(back.owner).toBe((await cluster.health(owner))!.instance.id);
  }, 60_000);
});
