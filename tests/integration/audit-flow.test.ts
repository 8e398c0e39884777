import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "@/lib/agent/agent";
import { readChain } from "@/lib/audit/chain";
import { exportLine, type ChainRecord } from "@/lib/audit/record";
import { verifyChain } from "@/lib/audit/verify";
import { deriveBindingMessage } from "@/lib/orders/binding-message";
import { ActivityLog } from "@/lib/events/activity";
import { EventBus } from "@/lib/events/bus";
import { rulesModel } from "../helpers/agent-harness";
import { PASSWORD, startEmbeddedWorld, type EmbeddedWorld } from "../helpers/embedded-world";
import { ApprovalPageUser } from "./idp-support";

/**
 * A real run, in one process: the agent (real loop, rules model), the embedded authorization
 * server (oidc-provider, the approval page) and the MCP endpoint on one store. Every decision
 * about the order is in the audit chain, from the party that made it, naming `sub` and `act`;
 * the token the server issued and the one the broker accepted are the same `jti`; no record
 * carries a token; the chain verifies.
 */
let world: EmbeddedWorld;
let agent: Agent;
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\./;

beforeAll(async () => {
  // The price (150.00) starts below the threshold: the agent proposes on its first tick.
  world = await startEmbeddedWorld({ PRICE_THRESHOLD: "200.00", CIBA_INTERVAL_SECONDS: "1" });
  const bus = new EventBus();
  agent = new Agent({
    config: world.config,
    db: world.db,
    bus,
    activity: new ActivityLog(world.db, bus),
    clientSecret: "unused",
    profile: world.profile(),
    fetch: world.mcpFetch,
    model: rulesModel(),
    tickMs: 3_600_000, // ticks are driven by the test
  });
});

afterAll(async () => {
  await agent?.stop();
  await world?.stop();
});

async function chain(): Promise<ChainRecord[]> {
  const out: ChainRecord[] = [];
  for await (const r of readChain(world.db)) out.push(r);
  return out;
}

describe("the audit chain of a real run", () => {
  it("has every decision about an approved order, by the party that made it", async () => {
    await agent.start();
    await agent.tick();
    const deadline = Date.now() + 20_000;
    let orderId: string | undefined;
    while (!orderId && Date.now() < deadline) {
      orderId = (await world.db.query<{ order_id: string }>("SELECT order_id FROM pending_approvals"))[0]?.order_id;
      if (!orderId) await new Promise((r) => setTimeout(r, 50));
    }
    expect(orderId).toBeDefined();
    const mail = await world.mailFor(orderId!);
    expect((await new ApprovalPageUser().decide(mail.links.approve!, "approve", PASSWORD)).status).toBeLessThan(400);
    await agent.idle();

    const records = (await chain()).filter((r) => r.order_id === orderId);
    const kinds = records.map((r) => `${r.source} ${r.event}`);
    expect(kinds).toEqual([
      "resource_server step_up.required",
      "agent order.frozen",
      "authorization_server ciba.requested",
      "agent ciba.requested",
      "authorization_server ciba.approved",
      "authorization_server token.issued",
      "agent ciba.approved",
      "agent token.received",
      "resource_server trade.executed",
    ]);
    const alice = world.config.investor.userId;
    const agentId = world.config.agent.id;
    const by = (kind: string) => records.find((r) => `${r.source} ${r.event}` === kind)!;
    expect(by("resource_server step_up.required")).toMatchObject({ decision: "refused", sub: agentId, act: null, tool: "buy_stock", reason: expect.stringMatching(/^insufficient_authorization: the buy_stock tool requires the stock:trade scope and approval of order ord_/) });
    for (const kind of kinds.filter((k) => k !== "resource_server step_up.required")) {
      expect(by(kind), kind).toMatchObject({ sub: alice, act: { sub: agentId } });
    }
    const jti = by("authorization_server token.issued").jti;
    expect(jti).toMatch(/\S{8,}/);
    expect(by("agent token.received")).toMatchObject({ jti, decision: "accepted" });
    expect(by("resource_server trade.executed")).toMatchObject({ jti, decision: "allowed", tool: "buy_stock" });
    expect(by("authorization_server ciba.requested").reason).toContain(deriveBindingMessage({ ...(await orderOf(orderId!)) }));

    const lines = (await chain()).map(exportLine);
    expect(lines.filter((l) => JWT.test(l))).toEqual([]);
    expect(verifyChain(lines)).toMatchObject({ ok: true, count: lines.length });
  });

  it("has the authorization server's denial", async () => {
    await agent.stop();
    const profile = world.profile();
    const agentToken = await profile.getAgentToken();
    const order = world.order();
    await profile.startCiba({ order, bindingMessage: deriveBindingMessage(order), actorToken: agentToken.accessToken, requestedExpirySeconds: 120 });
    const mail = await world.mailFor(order.order_id);
    await new ApprovalPageUser().decide(mail.links.deny!, "deny", PASSWORD);
    const records = (await chain()).filter((r) => r.order_id === order.order_id);
    expect(records.map((r) => `${r.source} ${r.event}`)).toEqual(["authorization_server ciba.requested", "authorization_server ciba.denied"]);
    expect(records[1]).toMatchObject({ decision: "denied", sub: world.config.investor.userId, act: { sub: world.config.agent.id } });
    expect(verifyChain((await chain()).map(exportLine))).toMatchObject({ ok: true });
  });
});

async function orderOf(orderId: string) {
  const [row] = await world.db.query<{ detail: Parameters<typeof deriveBindingMessage>[0] }>("SELECT detail FROM orders WHERE order_id = $1", [orderId]);
  return row!.detail;
}
