/**
 * The agent's state machine. Pure: which event moves which state where. The loop (agent.ts)
 * persists every transition, so a restart resumes from the stored state.
 *
 *   MONITORING ──price below threshold──▶ PROPOSING ──403 names the order, recorded──▶ EXECUTING
 *        ▲                                    │ no proposal / model error / refused / the
 *        │                                    │ broker named another order
 *        │                                    ▼
 *        │                              MONITORING / FAILED
 *   EXECUTING ──CIBA request sent (or a trade under the standing mandate)──▶ AWAITING_APPROVAL
 *   AWAITING_APPROVAL ──OBO token, order verified──▶ EXECUTING (OBO token) ──▶ DONE | FAILED
 *   AWAITING_APPROVAL ──access_denied──▶ DENIED,  ──expired_token──▶ EXPIRED,  ──other──▶ FAILED
 *   DONE | DENIED | EXPIRED | FAILED ──next tick──▶ MONITORING (after a cooldown / re-arm)
 *   any ──reset──▶ MONITORING;  PROPOSING | EXECUTING ──restart interrupted it──▶ FAILED
 *   any ──the ledger holds a trade for the order──▶ DONE (recovery.ts: the ledger wins over the
 *        state the agent remembers, e.g. a trade that committed just before a crash)
 */
export const AGENT_STATES = ["MONITORING", "PROPOSING", "AWAITING_APPROVAL", "EXECUTING", "DONE", "DENIED", "EXPIRED", "FAILED"] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export const TERMINAL_STATES: readonly AgentState[] = ["DONE", "DENIED", "EXPIRED", "FAILED"];

export type AgentEvent =
  | "price_below_threshold"
  | "no_proposal"
  | "proposal_refused"
  | "model_failed"
  | "order_frozen"
  | "approval_requested"
  | "approval_request_failed"
  | "trade_executed"
  | "trade_refused"
  | "trade_failed"
  | "approved"
  | "denied"
  | "expired"
  | "approval_failed"
  | "settled"
  | "interrupted"
  | "trade_found"
  | "reset";

const TRANSITIONS: Record<AgentEvent, Partial<Record<AgentState, AgentState>>> = {
  price_below_threshold: { MONITORING: "PROPOSING" },
  no_proposal: { PROPOSING: "MONITORING" },
  proposal_refused: { PROPOSING: "FAILED" },
  model_failed: { PROPOSING: "FAILED" },
  order_frozen: { PROPOSING: "EXECUTING" },
  approval_requested: { EXECUTING: "AWAITING_APPROVAL" },
  approval_request_failed: { EXECUTING: "FAILED" },
  // From PROPOSING: the agent-token call that asks the broker to name the order (flow.ts step 3).
  trade_executed: { EXECUTING: "DONE" },
  trade_refused: { PROPOSING: "FAILED", EXECUTING: "FAILED" },
  trade_failed: { PROPOSING: "FAILED", EXECUTING: "FAILED" },
  approved: { AWAITING_APPROVAL: "EXECUTING" },
  denied: { AWAITING_APPROVAL: "DENIED" },
  expired: { AWAITING_APPROVAL: "EXPIRED" },
  approval_failed: { AWAITING_APPROVAL: "FAILED" },
  settled: { DONE: "MONITORING", DENIED: "MONITORING", EXPIRED: "MONITORING", FAILED: "MONITORING" },
  interrupted: { PROPOSING: "FAILED", EXECUTING: "FAILED" },
  // A fact, not a step: the broker's ledger records a trade for the agent's order.
  trade_found: Object.fromEntries(AGENT_STATES.map((s) => [s, "DONE"])) as Record<AgentState, AgentState>,
  reset: Object.fromEntries(AGENT_STATES.map((s) => [s, "MONITORING"])) as Record<AgentState, AgentState>,
};

export class IllegalTransition extends Error {
  constructor(
    readonly from: AgentState,
    readonly event: AgentEvent,
  ) {
    super(`The agent cannot handle "${event}" in state ${from}`);
    this.name = "IllegalTransition";
  }
}

/** The state `event` leads to from `from`, or IllegalTransition. */
export function nextState(from: AgentState, event: AgentEvent): AgentState {
  const to = TRANSITIONS[event][from];
  if (!to) throw new IllegalTransition(from, event);
  return to;
}

export function canHandle(from: AgentState, event: AgentEvent): boolean {
  return TRANSITIONS[event][from] !== undefined;
}

export function isTerminal(state: AgentState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** States in which an order is open: no new proposal may start. */
export function hasOpenOrder(state: AgentState): boolean {
  return state === "PROPOSING" || state === "EXECUTING" || state === "AWAITING_APPROVAL";
}
