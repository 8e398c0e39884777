import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf } from "../helpers/agent-app";
import { afterCooldowns, approveUntilHeld, restart, startRecoveryRig, type RecoveryRig } from "./recovery-support";

/**
 * kill -9 right after the trade committed, before the agent heard of it (recovery.ts): the
 * restarted agent must read the trade from the ledger, not assume a failure and buy a second
 * time for the same fall after asking Alice again.
 */
let rig: RecoveryRig;

beforeAll(async () => {
  rig = await startRecoveryRig();
});
afterAll(async () => {
  await rig?.close();
});

describe("kill -9 after the trade committed", () => {
  it("one trade, the order executed, DONE and disarmed, no second approval request, cash and holdings match the trade", async () => {
    const { app } = rig;
    const { order, answer } = await approveUntilHeld(rig, "after-trade");

    // The broker executed the order; the agent, still waiting for that answer, says EXECUTING.
    expect(answer).toMatch(/executed/);
    expect(app.output()).toContain(`mcp.trade: Bought ${order.quantity} NVDA`);
    const before = await agentOf(app.url);
    expect(before).toMatchObject({ state: "EXECUTING", order: { orderId: order.orderId, status: "approved" } });
    await app.kill();

    const recovered = await restart(rig);
    expect(recovered).toMatchObject({ state: "DONE", armed: false, order: { orderId: order.orderId, status: "executed" } });
    expect(recovered.reason).toMatch(new RegExp(`^bought ${order.quantity} NVDA at \\d+\\.\\d{2} USD \\(trade \\d+, read from the ledger\\)$`));

    const { agent, state, mails } = await afterCooldowns(rig);
    expect(agent.state === "DONE" || agent.state === "MONITORING").toBe(true);
    expect(agent.armed).toBe(false);
    expect(mails).toHaveLength(1);
    expect(state.trades).toHaveLength(1);
    const [trade] = state.trades;
    expect(trade).toMatchObject({ orderId: order.orderId, quantity: order.quantity, side: "buy", userSub: "alice", actorSub: "aurelius" });
    expect(agent.order).toMatchObject({ orderId: order.orderId, status: "executed", tradeId: trade!.id });
    expect(state.portfolio!.cashCents).toBe(1_000_000 - trade!.notionalCents);
    expect(state.portfolio!.holdings).toEqual([expect.objectContaining({ symbol: "NVDA", quantity: order.quantity })]);
    const kinds = state.activity.map((e) => e.kind);
    expect(kinds).toContain("agent.recovered");
    expect(kinds.filter((k) => k === "agent.ciba_sent")).toHaveLength(1);
    expect((await dashboardOf(app.url)).trades).toHaveLength(1);
  });
});
