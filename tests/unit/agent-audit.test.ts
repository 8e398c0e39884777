import { describe, expect, it } from "vitest";
import { readChain } from "@/lib/audit/chain";
import type { ChainRecord } from "@/lib/audit/record";
import { exportLine } from "@/lib/audit/record";
import { verifyChain } from "@/lib/audit/verify";
import { AGENT_TOKEN, approvedWith, OBO_TOKEN } from "../helpers/agent-fakes";
import { crash, frozenOrder, useAgentHarness, waitFor } from "../helpers/agent-harness";

/**
 * The agent's decisions in the audit chain, for every ending of a run: each names Alice as `sub`
 * and the agent as `act`, the order, and for the token it received only its `jti`.
 */
const { harness, store } = useAgentHarness();

async function agentRecords(): Promise<ChainRecord[]> {
  const out: ChainRecord[] = [];
  for await (const r of readChain(store())) if (r.source === "agent") out.push(r);
  return out;
}

async function chainVerifies(): Promise<void> {
  const lines: string[] = [];
  for await (const r of readChain(store())) lines.push(exportLine(r));
  expect(verifyChain(lines)).toMatchObject({ ok: true });
  expect(lines.join("\n")).not.toContain(OBO_TOKEN);
  expect(lines.join("\n")).not.toContain(AGENT_TOKEN);
}

describe("the agent's audit records", () => {
  it("approved: order frozen, CIBA requested, approved, token received by jti", async () => {
    const h = await harness();
    crash(h);
    h.profile.script = [{ kind: "pending" }];
    await h.agent.tick();
    await waitFor(() => h.profile.cibaRequests.length === 1);
    const order = frozenOrder(h);
    h.profile.script.push(approvedWith([order], { jti: "obo-jti-1" }));
    await h.agent.idle();
    const records = await agentRecords();
    expect(records.map((r) => r.event)).toEqual(["order.frozen", "ciba.requested", "ciba.approved", "token.received"]);
    for (const r of records) expect(r).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, order_id: order.order_id });
    expect(records[3]).toMatchObject({ decision: "accepted", jti: "obo-jti-1", scopes: "openid stock:read stock:trade" });
    await chainVerifies();
  });

  it.each([
    [{ kind: "denied", error: "access_denied" }, "ciba.denied"],
    [{ kind: "expired", error: "expired_token" }, "ciba.expired"],
    [{ kind: "invalid", error: "invalid_grant" }, "ciba.failed"],
  ] as const)("%j ends with %s", async (outcome, event) => {
    const h = await harness();
    crash(h);
    h.profile.script = [outcome];
    await h.step();
    const records = await agentRecords();
    expect(records.map((r) => r.event)).toEqual(["order.frozen", "ciba.requested", event]);
    expect(records[2]).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, order_id: frozenOrder(h).order_id, reason: `the token endpoint answered ${outcome.error}` });
    await chainVerifies();
  });

  it("a token that does not grant the order is recorded as rejected", async () => {
    const h = await harness();
    crash(h);
    h.profile.script = [{ kind: "pending" }];
    await h.agent.tick();
    await waitFor(() => h.profile.cibaRequests.length === 1);
    h.profile.script.push(approvedWith([{ ...frozenOrder(h), quantity: 999 }], { jti: "obo-jti-2" }));
    await h.agent.idle();
    const received = (await agentRecords()).at(-1)!;
    expect(received).toMatchObject({ event: "token.received", decision: "rejected", jti: "obo-jti-2" });
  });
});
