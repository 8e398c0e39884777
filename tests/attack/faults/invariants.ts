import type { AppConfig } from "@/lib/config";
import { parseMoney } from "@/lib/money";
import type { Queryable } from "@/lib/store/db";
import type { RunResult } from "./runner";

/**
 * What must hold after any schedule, read from the ledger and the stores (never from the agent's
 * memory):
 *
 * 1. every trade matches exactly one order Alice approved at the identity server (idp_approvals
 *    'approved'), the approved order is the frozen one, the trade keeps to it (symbol, side,
 *    quantity ≤, price ≤ limit, notional ≤ max), is Alice's, by the agent, after her decision;
 * 2. no order executes twice, and at most one trade per fall below the threshold: between two
 *    trades the price must have been back at or above the threshold after the first trade began
 *    and before the second trade's order was frozen (the only way the agent may arm again);
 * 3. cash and holdings reconcile with the trades;
 * 4. nothing is lost: each trade has its one mcp.trade activity entry and its one allowed audit
 *    record, each order that traded is recorded as executed (with that trade), each order marked
 *    executed traded, and every order is closed or is the agent's one open order;
 * 5. nothing waits forever: after the quiet period no approval request is pending and the agent
 *    is at rest (MONITORING, armed).
 */
export interface Violation {
  invariant: 1 | 2 | 3 | 4 | 5;
  message: string;
}

interface TradeRow {
  id: number;
  order_id: string | null;
  user_sub: string;
  actor_sub: string | null;
  symbol: string;
  side: "buy" | "sell";
  quantity: number;
  price_cents: number;
  notional_cents: number;
}
interface OrderRow {
  order_id: string;
  symbol: string;
  side: string;
  status: string;
  trade_id: number | null;
  detail: Record<string, unknown>;
}
interface IdpRow {
  handle: string;
  status: string;
  authorization_details: Array<Record<string, unknown>> | null;
}

const CLOSED = new Set(["executed", "denied", "expired", "failed", "cancelled"]);
const OPEN_STATES = new Set(["PROPOSING", "EXECUTING", "AWAITING_APPROVAL"]);
const DETAIL_FIELDS = ["type", "order_id", "symbol", "side", "quantity", "limit_price", "max_notional", "expires_at"];

export async function checkInvariants(db: Queryable, config: AppConfig, run: RunResult): Promise<Violation[]> {
  const found: Violation[] = [];
  const fail = (invariant: Violation["invariant"], message: string) => void found.push({ invariant, message });
  const trades = await db.query<TradeRow>("SELECT id, order_id, user_sub, actor_sub, symbol, side, quantity, price_cents, notional_cents FROM trades ORDER BY id");
  const orders = await db.query<OrderRow>("SELECT order_id, symbol, side, status, trade_id, detail FROM orders ORDER BY created_at");
  const idp = await db.query<IdpRow>("SELECT handle, status, authorization_details FROM idp_approvals");
  const orderOf = new Map(orders.map((o) => [o.order_id, o]));

  // 1. Each trade: one approved order, kept to.
  for (const t of trades) {
    const label = `trade ${t.id} (order ${t.order_id}, ${t.side} ${t.quantity} ${t.symbol} at ${t.price_cents})`;
    const order = t.order_id ? orderOf.get(t.order_id) : undefined;
    if (!order) fail(1, `${label}: no order the agent froze has this id`);
    const requests = idp.filter((a) => (a.authorization_details ?? []).some((d) => d.order_id === t.order_id));
    const approved = requests.filter((a) => a.status === "approved");
    if (approved.length !== 1) {
      fail(1, `${label}: ${approved.length} approved requests for its order at the identity server (statuses: ${requests.map((a) => a.status).join(", ") || "none"})`);
      continue;
    }
    const detail = approved[0]!.authorization_details!.find((d) => d.order_id === t.order_id)!;
    if (order && DETAIL_FIELDS.some((f) => detail[f] !== order.detail[f])) fail(1, `${label}: Alice approved ${JSON.stringify(detail)}, the agent froze ${JSON.stringify(order.detail)}`);
    if (t.symbol !== detail.symbol || t.side !== detail.side) fail(1, `${label}: approved was ${String(detail.side)} ${String(detail.symbol)}`);
    if (t.quantity > Number(detail.quantity)) fail(1, `${label}: ${String(detail.quantity)} shares approved`);
    if (t.side === "buy" && t.price_cents > (parseMoney(String(detail.limit_price)) ?? 0)) fail(1, `${label}: above the approved limit ${String(detail.limit_price)}`);
    if (t.notional_cents > (parseMoney(String(detail.max_notional)) ?? 0)) fail(1, `${label}: notional above the approved ${String(detail.max_notional)}`);
    if (t.user_sub !== config.investor.userId || t.actor_sub !== config.agent.id) fail(1, `${label}: for ${t.user_sub} by ${t.actor_sub}`);
    const [early] = await db.query("SELECT 1 FROM trades t, idp_approvals a WHERE t.id = $1 AND a.handle = $2 AND NOT (t.created_at > a.decided_at)", [t.id, approved[0]!.handle]);
    if (early) fail(1, `${label}: executed before Alice's decision was recorded`);
  }

  // 2. Once per order, once per fall.
  const tradedOrders = trades.map((t) => t.order_id);
  for (const id of new Set(tradedOrders)) {
    const n = tradedOrders.filter((o) => o === id).length;
    if (n > 1) fail(2, `order ${id} executed ${n} times`);
  }
  for (let i = 1; i < trades.length; i++) {
    const [first, second] = [trades[i - 1]!, trades[i]!];
    if (!(await rearmedBetween(db, config.mandate.thresholdCents, first.id, second))) {
      fail(2, `trades ${first.id} and ${second.id} in one fall: the price never went back to ${config.mandate.thresholdCents} cents or more between trade ${first.id} and the freezing of order ${second.order_id}`);
    }
  }

  // 3. The money adds up.
  const [portfolio] = await db.query<{ cash_cents: number; initial_cash_cents: number }>("SELECT cash_cents, initial_cash_cents FROM portfolios WHERE user_sub = $1", [config.investor.userId]);
  const holdings = await db.query<{ symbol: string; quantity: number }>("SELECT symbol, quantity FROM holdings WHERE user_sub = $1", [config.investor.userId]);
  const signed = (t: TradeRow, v: number) => (t.side === "buy" ? v : -v);
  const expectedCash = (portfolio?.initial_cash_cents ?? 0) - trades.reduce((sum, t) => sum + signed(t, t.notional_cents), 0);
  if (portfolio?.cash_cents !== expectedCash) fail(3, `cash is ${portfolio?.cash_cents}, the trades leave ${expectedCash}`);
  for (const symbol of new Set([...trades.map((t) => t.symbol), ...holdings.map((h) => h.symbol)])) {
    const held = holdings.find((h) => h.symbol === symbol)?.quantity ?? 0;
    const traded = trades.filter((t) => t.symbol === symbol).reduce((sum, t) => sum + signed(t, t.quantity), 0);
    if (held !== traded) fail(3, `${symbol}: ${held} shares held, the trades add up to ${traded}`);
  }

  // 4. Every record of a trade, and every order's outcome.
  const activity = await db.query<{ trade_id: string }>("SELECT data->>'tradeId' AS trade_id FROM activity_log WHERE kind = 'mcp.trade'");
  const audits = await db.query<{ reason: string; order_id: string | null }>(
    "SELECT reason, order_id FROM audit_log WHERE decision = 'allowed' AND tool IN ('buy_stock', 'sell_stock')",
  );
  for (const t of trades) {
    const lines = activity.filter((a) => a.trade_id === String(t.id)).length;
    if (lines !== 1) fail(4, `trade ${t.id}: ${lines} mcp.trade activity entries`);
    const records = audits.filter((a) => a.order_id === t.order_id && a.reason.startsWith(`executed: trade ${t.id},`)).length;
    if (records !== 1) fail(4, `trade ${t.id}: ${records} allowed audit records`);
    const order = t.order_id ? orderOf.get(t.order_id) : undefined;
    if (order && (order.status !== "executed" || order.trade_id !== t.id)) {
      fail(4, `order ${order.order_id} traded (trade ${t.id}) but is recorded as ${order.status}${order.trade_id !== t.id ? `, ${order.trade_id === null ? "with no trade" : `with trade ${order.trade_id}`}` : ""}`);
    }
  }
  if (audits.length !== trades.length) fail(4, `${audits.length} allowed trade audit records for ${trades.length} trades`);
  for (const o of orders.filter((o) => o.status === "executed" && !trades.some((t) => t.order_id === o.order_id))) {
    fail(4, `order ${o.order_id} is recorded as executed but never traded`);
  }
  const [agent] = await db.query<{ state: string; order_id: string | null }>("SELECT state, order_id FROM agent_state");
  const open = orders.filter((o) => !CLOSED.has(o.status));
  if (open.length > 1 || open.some((o) => o.order_id !== agent?.order_id || !OPEN_STATES.has(agent.state))) {
    fail(4, `orders left open: ${open.map((o) => `${o.order_id} (${o.status})`).join(", ")}; the agent is ${agent?.state} on ${agent?.order_id}`);
  }

  // 5. Nothing left waiting.
  const pending = await db.query<{ auth_req_id: string; order_id: string }>("SELECT auth_req_id, order_id FROM pending_approvals WHERE status = 'pending'");
  if (pending.length) fail(5, `approval requests still pending after the quiet period: ${pending.map((p) => `${p.auth_req_id.slice(0, 8)}… (order ${p.order_id})`).join(", ")}`);
  if (!run.rested) fail(5, `the agent did not come to rest in the quiet period: ${run.restState}`);
  return found;
}

/** Whether the price was at or above the threshold after `firstTradeId` began and before `second`'s order was frozen. */
async function rearmedBetween(db: Queryable, thresholdCents: number, firstTradeId: number, second: TradeRow): Promise<boolean> {
  const [row] = await db.query<{ rearmed: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM market_ticks h
       WHERE h.price_cents >= $1
         AND h.at < COALESCE((SELECT created_at FROM orders WHERE order_id = $3), (SELECT created_at FROM trades WHERE id = $4))
         AND COALESCE((SELECT min(l.at) FROM market_ticks l WHERE l.id > h.id AND l.price_cents < $1), 'infinity'::timestamptz)
             > (SELECT created_at FROM trades WHERE id = $2)
     ) AS rearmed`,
    [thresholdCents, firstTradeId, second.order_id, second.id],
  );
  return row?.rearmed === true;
}
