import "server-only";
import { findTradeForOrder, getOrder, type ApprovalStatus, type OrderStatus } from "../store/orders";
import type { Trade } from "../types";
import { finish, tradeFound, type AgentContext } from "./flow";
import { closeOrphanedOpenOrders, findApprovalForOrder, setOrderStatus, type AgentRow } from "./repository";
import type { AgentEvent, AgentState } from "./state-machine";

/**
 * Recovery: after a restart (or a crash of the unit of work) the agent reads what happened from
 * the store, and the broker's ledger wins over what the agent remembers. A state row can lag
 * behind the world by one step: the process may die after the trade committed and before the
 * agent recorded it, or after the CIBA request was sent and before it was stored.
 *
 * Two rules hold whatever the table says:
 * - one trade per fall: an order with a trade is `executed` and the run DONE, with the agent
 *   disarmed until the price is back above the threshold;
 * - Alice is not asked twice for one fall because of the agent's own crash: when an interrupted
 *   step may have reached the broker or the identity server, the order is failed and the agent
 *   is disarmed (armed = false) for the rest of the fall.
 *
 * The order a failed run leaves behind cannot execute later: the on-behalf-of token lived only in
 * the dead process (never stored), the CIBA auth_req_id that produced it is single-use at the
 * identity server, the "recorded-approval" broker rule only executes `approved` orders, and the
 * trades table's unique order_id and token jti allow one trade per order and per token.
 *
 *   stored state       │ what the store says                       │ outcome
 *   ───────────────────┼───────────────────────────────────────────┼──────────────────────────────────────────────
 *   any                │ a trade for the featured order, which is  │ order executed (trade_id), DONE with the
 *                      │ not yet recorded as executed, or the      │ trade's quantity and price, armed = false
 *                      │ state is not DONE / MONITORING            │
 *   PROPOSING          │ no trade (an order may have been frozen;  │ order(s) failed, FAILED, cooldown; armed kept:
 *                      │ no CIBA request goes out in PROPOSING)    │ Alice was not asked
 *   EXECUTING          │ approval request stored, still pending    │ AWAITING_APPROVAL, polling resumes (the
 *                      │ (died between storing it and moving on)   │ broker has only seen the agent token)
 *   EXECUTING          │ approval approved, no trade (the broker   │ order failed, FAILED, cooldown, armed = false
 *                      │ call with the OBO token may have gone)    │
 *   EXECUTING          │ no approval stored, no trade (the agent-  │ order failed, FAILED, cooldown, armed = false
 *                      │ token call or the CIBA request may have   │ (Alice may already have a mail)
 *                      │ gone out)                                 │
 *   AWAITING_APPROVAL  │ approval pending                          │ polling resumes (flow.ts, step 5)
 *   AWAITING_APPROVAL  │ approval approved, no trade (the token    │ order failed, FAILED, cooldown, armed = false
 *                      │ was redeemed, then lost with the process) │
 *   AWAITING_APPROVAL  │ approval denied / expired                 │ order denied / expired, DENIED / EXPIRED,
 *                      │                                           │ cooldown (the decision is honoured as usual)
 *   AWAITING_APPROVAL  │ approval failed / cancelled, or none      │ order failed, FAILED, cooldown
 *   MONITORING, DONE,  │ no trade for the featured order (or its   │ nothing to correct
 *   DENIED, EXPIRED,   │ trade already recorded)                   │
 *   FAILED             │                                           │
 *   any                │ other orders of the investor left `open`  │ failed (they never reached Alice)
 *
 * The same ledger check runs before a FAILED run rests into MONITORING (Agent.settleIfRested): a
 * trade whose answer was lost in transit is recorded instead of being retried. A request resumed
 * after a restart that the identity server ends with an error (`invalid_grant`: the dead process
 * may already have redeemed it) also disarms the agent (agent.ts).
 */
export interface RecoveryFacts {
  state: AgentState;
  order: { status: OrderStatus } | undefined;
  trade: Trade | undefined;
  approval: { status: ApprovalStatus; lastError: string | null } | undefined;
}

export type RecoveryPlan =
  | { action: "keep" }
  | { action: "record_trade"; trade: Trade }
  | { action: "resume"; event: "approval_requested" | null }
  | { action: "close"; event: AgentEvent; orderStatus: "failed" | "denied" | "expired"; reason: string; disarm: boolean };

const NOT_AGAIN = "not asking again until the price is back above the threshold";

/** The recovery table above, as a pure function of what the store says. */
export function planRecovery(f: RecoveryFacts): RecoveryPlan {
  if (f.trade) {
    const recorded = f.order?.status === "executed" && (f.state === "DONE" || f.state === "MONITORING");
    return recorded ? { action: "keep" } : { action: "record_trade", trade: f.trade };
  }
  const approval = f.approval?.status;
  switch (f.state) {
    case "MONITORING":
    case "DONE":
    case "DENIED":
    case "EXPIRED":
    case "FAILED":
      return { action: "keep" };
    case "PROPOSING":
      return close("interrupted", "failed", "interrupted by a restart while proposing, before Alice was asked", false);
    case "EXECUTING":
      if (approval === "pending") return { action: "resume", event: "approval_requested" };
      if (approval === "approved") {
        return close("interrupted", "failed", `interrupted by a restart while trading with the approval; the ledger has no trade for the order, ${NOT_AGAIN}`, true);
      }
      return close("interrupted", "failed", `interrupted by a restart before the approval request was recorded (it may have been sent), ${NOT_AGAIN}`, true);
    case "AWAITING_APPROVAL":
      switch (approval) {
        case "pending":
          return { action: "resume", event: null };
        case "approved":
          return close("approval_failed", "failed", `the approval was granted, but a restart lost the token before the trade; the ledger has no trade for the order, ${NOT_AGAIN}`, true);
        case "denied":
          return close("denied", "denied", "the request was denied", false);
        case "expired":
          return close("expired", "expired", "the request expired before it was decided", false);
        case "failed":
        case "cancelled":
          return close("approval_failed", "failed", `the approval request ended: ${f.approval?.lastError ?? approval}`, false);
        case undefined:
          return close("approval_failed", "failed", "the pending approval record is missing", false);
      }
  }
}

function close(event: AgentEvent, orderStatus: "failed" | "denied" | "expired", reason: string, disarm: boolean): RecoveryPlan {
  return { action: "close", event, orderStatus, reason, disarm };
}

export async function readRecoveryFacts(ctx: Pick<AgentContext, "db">, row: AgentRow): Promise<RecoveryFacts> {
  const id = row.orderId;
  const [order, trade, approval] = id
    ? await Promise.all([getOrder(ctx.db, id), findTradeForOrder(ctx.db, id), findApprovalForOrder(ctx.db, id)])
    : [undefined, undefined, undefined];
  return { state: row.state, order, trade, approval };
}

/**
 * Brings the stored state in line with the ledger (the table above). `when` says why: after a
 * restart everything is checked; before a FAILED run rests, only the trade matters.
 */
export async function recoverFromLedger(ctx: AgentContext, when: "restart" | "settle"): Promise<RecoveryPlan> {
  const row = ctx.row();
  const plan = planRecovery(await readRecoveryFacts(ctx, row));
  if (plan.action === "record_trade") await recordTrade(ctx, row, plan.trade, when);
  if (when === "settle") return plan;
  if (plan.action === "resume" && plan.event) await resumeStoredRequest(ctx, row);
  if (plan.action === "close") await closeInterrupted(ctx, row, plan);
  const keep = plan.action === "resume" ? row.orderId : null;
  const orphans = await closeOrphanedOpenOrders(ctx.db, ctx.config.investor.userId, keep, "interrupted by a restart before the approval request was recorded");
  if (orphans.length) await ctx.log("warn", "agent.interrupted", `Closed ${orphans.length} order(s) a restart left open, before Alice was asked: ${orphans.join(", ")}.`);
  return plan;
}

async function recordTrade(ctx: AgentContext, row: AgentRow, trade: Trade, when: "restart" | "settle"): Promise<void> {
  const orderId = row.orderId!;
  const cause = when === "restart" ? `The agent stopped in ${row.state} after the broker executed order ${orderId}` : `The broker executed order ${orderId} although the agent saw the attempt fail`;
  await finish(ctx, tradeFound(orderId, trade, cause, { from: row.state }));
}

async function resumeStoredRequest(ctx: AgentContext, row: AgentRow): Promise<void> {
  const order = await getOrder(ctx.db, row.orderId!);
  if (order?.status === "open") await setOrderStatus(ctx.db, row.orderId!, "awaiting_approval");
  await ctx.log("info", "agent.resumed", `A restart interrupted the agent right after it stored the approval request for order ${row.orderId}; waiting for that request.`, { orderId: row.orderId });
  await ctx.transition("approval_requested");
}

/** Closes the interrupted run (finish() records the trade instead if the ledger holds one). */
function closeInterrupted(ctx: AgentContext, row: AgentRow, plan: Extract<RecoveryPlan, { action: "close" }>): Promise<void> {
  return finish(ctx, {
    event: plan.event,
    reason: plan.reason,
    ...(row.orderId ? { orderId: row.orderId, orderStatus: plan.orderStatus } : {}),
    line: { level: plan.disarm ? "error" : "warn", kind: "agent.interrupted", message: `No trade: ${plan.reason}.`, data: { orderId: row.orderId, from: row.state } },
    disarm: plan.disarm,
  });
}
