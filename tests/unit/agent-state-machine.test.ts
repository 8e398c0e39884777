import { describe, expect, it } from "vitest";
import { AGENT_STATES, canHandle, hasOpenOrder, IllegalTransition, isTerminal, nextState, type AgentEvent, type AgentState } from "@/lib/agent/state-machine";

/** The agent's state machine: the happy path, every failure branch, and what it refuses. */
describe("agent state machine", () => {
  it("walks the happy path: monitor, propose, refused by the broker, ask, approve, trade", () => {
    const path: [AgentEvent, AgentState][] = [
      ["price_below_threshold", "PROPOSING"],
      ["order_frozen", "EXECUTING"],
      ["approval_requested", "AWAITING_APPROVAL"],
      ["approved", "EXECUTING"],
      ["trade_executed", "DONE"],
      ["settled", "MONITORING"],
    ];
    let state: AgentState = "MONITORING";
    for (const [event, expected] of path) {
      state = nextState(state, event);
      expect(state).toBe(expected);
    }
  });

  it.each<[AgentState, AgentEvent, AgentState]>([
    // proposing
    ["PROPOSING", "no_proposal", "MONITORING"],
    ["PROPOSING", "proposal_refused", "FAILED"],
    ["PROPOSING", "model_failed", "FAILED"],
    // first attempt with the agent token / the CIBA request
    ["EXECUTING", "approval_request_failed", "FAILED"],
    ["EXECUTING", "trade_refused", "FAILED"],
    ["EXECUTING", "trade_failed", "FAILED"],
    // the user's decision
    ["AWAITING_APPROVAL", "denied", "DENIED"],
    ["AWAITING_APPROVAL", "expired", "EXPIRED"],
    ["AWAITING_APPROVAL", "approval_failed", "FAILED"],
    // restarts
    ["PROPOSING", "interrupted", "FAILED"],
    ["EXECUTING", "interrupted", "FAILED"],
    // the ledger holds a trade for the order: whatever the agent remembered, the run is done
    ["EXECUTING", "trade_found", "DONE"],
    ["AWAITING_APPROVAL", "trade_found", "DONE"],
    ["FAILED", "trade_found", "DONE"],
  ])("%s --%s--> %s", (from, event, to) => {
    expect(nextState(from, event)).toBe(to);
  });

  it("returns to MONITORING from every resting state, and from anywhere on reset", () => {
    for (const s of ["DONE", "DENIED", "EXPIRED", "FAILED"] as const) expect(nextState(s, "settled")).toBe("MONITORING");
    for (const s of AGENT_STATES) expect(nextState(s, "reset")).toBe("MONITORING");
  });

  it.each<[AgentState, AgentEvent]>([
    // No trade without an approval: an approval or a trade cannot come out of nowhere.
    ["MONITORING", "approved"],
    ["MONITORING", "trade_executed"],
    ["PROPOSING", "trade_executed"],
    ["PROPOSING", "approved"],
    ["AWAITING_APPROVAL", "trade_executed"],
    ["AWAITING_APPROVAL", "price_below_threshold"],
    // One order at a time: no new proposal while one is open or resting.
    ["EXECUTING", "price_below_threshold"],
    ["DENIED", "price_below_threshold"],
    ["DONE", "price_below_threshold"],
    // A pending approval survives a restart (it is resumed, not interrupted).
    ["AWAITING_APPROVAL", "interrupted"],
    ["MONITORING", "settled"],
    ["DONE", "denied"],
  ])("refuses %s --%s-->", (from, event) => {
    expect(canHandle(from, event)).toBe(false);
    expect(() => nextState(from, event)).toThrow(IllegalTransition);
  });

  it("knows which states rest and which hold an open order", () => {
    expect(AGENT_STATES.filter(isTerminal)).toEqual(["DONE", "DENIED", "EXPIRED", "FAILED"]);
    expect(AGENT_STATES.filter(hasOpenOrder)).toEqual(["PROPOSING", "AWAITING_APPROVAL", "EXECUTING"]);
  });
});
