import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf } from "../helpers/agent-app";
import { afterCooldowns, approveUntilHeld, restart, startRecoveryRig, type RecoveryRig } from "./recovery-support";

/**
 * kill -9 while EXECUTING with Alice's approval, before the trade reached the broker
 * (recovery.ts): no trade, the order failed for good, and Alice is not asked a second time for
 * the same fall because the agent crashed.
 */
let rig: RecoveryRig;

beforeAll(async () => {
  rig = await startRecoveryRig();
});
afterAll(async () => {
  await rig?.close();
});

describe("kill -9 while executing, before the trade", () => {
  it("no trade, the order failed, disarmed, no second approval request during the fall", async () => {
    const { app } = rig;
    const { order } = await approveUntilHeld(rig, "before-trade");
    const before = await agentOf(app.url);
    expect(before).toMatchObject({ state: "EXECUTING", order: { orderId: order.orderId, status: "approved" } });
    await app.kill();

    const recovered = await restart(rig);
    expect(recovered).toMatchObject({ state: "FAILED", armed: false, order: { orderId: order.orderId, status: "failed" } });
    expect(recovered.reason).toMatch(/interrupted by a restart while trading/);

    const { agent, state, mails } = await afterCooldowns(rig);
    expect(agent).toMatchObject({ state: "FAILED", armed: false });
    expect(mails).toHaveLength(1);
    expect(state.trades).toEqual([]);
    expect(state.portfolio!.cashCents).toBe(1_000_000);
    expect(state.portfolio!.holdings).toEqual([]);
    expect(state.activity.map((e) => e.kind).filter((k) => k === "agent.ciba_sent")).toHaveLength(1);
  });
});
