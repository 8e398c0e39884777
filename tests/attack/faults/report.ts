import type { Queryable } from "@/lib/store/db";
import type { Violation } from "./invariants";
import type { RunResult } from "./runner";
import { describe, type Op } from "./schedule";

/**
 * The failure report of one schedule: the seed and the command that replays it, the violated
 * invariants, the operations, the history as it happened, what the stores hold at the end, and
 * the tail of the app's log. Replaying a seed runs the same operations; the agent's own timing
 * can differ slightly between runs, so the history shows what this run met.
 */
export function replayCommand(seed: number): string {
  return `FAULT_SEED=${seed} SKIP_BUILD=1 npm test -- tests/attack/fault-schedules.test.ts`;
}

export async function formatFailure(db: Queryable, seed: number, ops: Op[], run: RunResult, violations: Violation[]): Promise<string> {
  const out = [
    `Fault schedule ${seed} violated ${violations.length} invariant check(s).`,
    `Replay: ${replayCommand(seed)}`,
    "",
    "Violations:",
    ...violations.map((v) => `  [${v.invariant}] ${v.message}`),
    "",
    "Operations:",
    ...ops.map((op, i) => `  ${String(i + 1).padStart(2)}. ${describe(op)}`),
    "",
    "History:",
    ...run.history.lines.map((l) => `  ${l}`),
    "",
    "Stores at the end:",
    ...(await storeSummary(db)).map((l) => `  ${l}`),
    "",
    "App log (tail):",
    ...run.history.appTail().map((l) => `  ${l}`),
  ];
  return out.join("\n");
}

async function storeSummary(db: Queryable): Promise<string[]> {
  const short = (id: string | null) => (id ? `${id.slice(0, 12)}…` : "-");
  const [agent] = await db.query<{ state: string; armed: boolean; order_id: string | null; reason: string | null }>("SELECT state, armed, order_id, reason FROM agent_state");
  const orders = await db.query<{ order_id: string; status: string; status_reason: string | null; quantity: number; limit_price_cents: number; trade_id: number | null }>(
    "SELECT order_id, status, status_reason, quantity, limit_price_cents, trade_id FROM orders ORDER BY created_at",
  );
  const approvals = await db.query<{ auth_req_id: string; order_id: string; status: string; last_error: string | null }>(
    "SELECT auth_req_id, order_id, status, last_error FROM pending_approvals ORDER BY created_at",
  );
  const idp = await db.query<{ handle: string; status: string; binding_message: string | null; order_id: string | null }>(
    "SELECT handle, status, binding_message, authorization_details->0->>'order_id' AS order_id FROM idp_approvals ORDER BY created_at",
  );
  const trades = await db.query<{ id: number; order_id: string | null; quantity: number; price_cents: number; actor_sub: string | null }>(
    "SELECT id, order_id, quantity, price_cents, actor_sub FROM trades ORDER BY id",
  );
  const audits = await db.query<{ tool: string; decision: string; reason: string | null; order_id: string | null }>(
    "SELECT tool, decision, reason, order_id FROM audit_log WHERE tool IN ('buy_stock', 'sell_stock') ORDER BY id",
  );
  const kinds = await db.query<{ kind: string }>("SELECT kind FROM activity_log WHERE kind NOT IN ('agent.price') ORDER BY id");
  return [
    `agent_state: ${agent ? `${agent.state}${agent.armed ? "" : " (not armed)"}, order ${short(agent.order_id)}, ${agent.reason ?? ""}` : "none"}`,
    ...orders.map((o) => `order ${short(o.order_id)} ${o.status} × ${o.quantity} limit ${o.limit_price_cents}${o.trade_id ? ` trade ${o.trade_id}` : ""}${o.status_reason ? `: ${o.status_reason.slice(0, 140)}` : ""}`),
    ...approvals.map((a) => `pending_approval ${short(a.auth_req_id)} order ${short(a.order_id)} ${a.status}${a.last_error ? `: ${a.last_error.slice(0, 100)}` : ""}`),
    ...idp.map((a) => `idp_approval ${short(a.handle)} order ${short(a.order_id)} ${a.status} "${a.binding_message ?? ""}"`),
    ...trades.map((t) => `trade ${t.id} order ${short(t.order_id)} × ${t.quantity} at ${t.price_cents} by ${t.actor_sub}`),
    ...audits.map((a) => `audit ${a.tool} ${short(a.order_id)} ${a.decision}: ${(a.reason ?? "").slice(0, 90)}`),
    `activity: ${kinds.map((k) => k.kind).join(", ")}`,
  ];
}
