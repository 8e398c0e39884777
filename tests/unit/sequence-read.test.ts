import { describe, expect, it } from "vitest";
import { appendAudit } from "@/lib/audit/chain";
import { readSequence } from "@/lib/sequence/read";
import { useTestDb } from "../helpers/store";

/**
 * Reading the sequence view's facts from the store: only the investor's own orders, the newest
 * first, and an order's flow from its audit records and CIBA request. Negative cases first.
 */
const db = useTestDb((store) => store.query("TRUNCATE audit_log, pending_approvals, agent_state, orders CASCADE"));

const NAMES = { agentId: "aurelius", agentName: "Aurelius", investorName: "Alice" };
const MINE = "ord_AAAAAAAAAAAAAAAA0001";
const NEWER = "ord_AAAAAAAAAAAAAAAA0002";
const THEIRS = "ord_BBBBBBBBBBBBBBBB0001";

async function insertOrder(orderId: string, userSub: string, createdAt: string, status = "awaiting_approval") {
  const detail = { type: "stock_trade", order_id: orderId, symbol: "NVDA", side: "buy", quantity: 38, limit_price: "131.20", max_notional: "5000.00", expires_at: "2030-01-01T00:05:00.000Z" };
  await db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status, detail, created_at)
     VALUES ($1, $2, 'NVDA', 'buy', 38, 13120, 500000, '2030-01-01T00:05:00Z', $3, $4, $5)`,
    [orderId, userSub, status, JSON.stringify(detail), createdAt],
  );
}

describe("readSequence", () => {
  it("reads another user's order as unknown, and lists only the investor's orders", async () => {
    await insertOrder(THEIRS, "bob", "2030-01-01T00:00:00Z");
    await insertOrder(MINE, "alice", "2030-01-01T00:00:01Z");
    expect(await readSequence(db, { userSub: "alice", orderId: THEIRS, names: NAMES })).toBeUndefined();
    expect(await readSequence(db, { userSub: "alice", orderId: "ord_CCCCCCCCCCCCCCCC0001", names: NAMES })).toBeUndefined();
    const mine = await readSequence(db, { userSub: "alice", names: NAMES });
    expect(mine!.orders.map((o) => o.orderId)).toEqual([MINE]);
  });

  it("answers no orders with no sequence, and the five parties", async () => {
    const empty = await readSequence(db, { userSub: "alice", names: NAMES });
    expect(empty).toEqual({ parties: expect.any(Array), orders: [], sequence: null });
    expect(empty!.parties.map((p) => `${p.id}:${p.name}`)).toEqual(["agent:Aurelius", "mcp:MCP server", "as:Authorization server", "mailbox:Alice's mailbox", "user:Alice"]);
  });

  it("shows the newest order by default and derives its flow from the audit chain and its CIBA request", async () => {
    await insertOrder(MINE, "alice", "2030-01-01T00:00:01Z", "denied");
    await insertOrder(NEWER, "alice", "2030-01-01T00:10:00Z");
    await appendAudit(db, { source: "agent", event: "order.frozen", decision: "frozen", sub: "alice", act: { sub: "aurelius" }, orderId: NEWER }, new Date("2030-01-01T00:10:00Z"));
    await appendAudit(
      db,
      { source: "resource_server", event: "step_up.required", decision: "refused", tool: "buy_stock", sub: "aurelius", scopes: "openid stock:read", reason: "insufficient_scope: The buy_stock tool requires the stock:trade scope; the token has openid stock:read.", orderId: NEWER },
      new Date("2030-01-01T00:10:01Z"),
    );
    await appendAudit(db, { source: "agent", event: "ciba.requested", decision: "requested", sub: "alice", act: { sub: "aurelius" }, orderId: NEWER }, new Date("2030-01-01T00:10:02Z"));
    // Another order's record is not part of this flow.
    await appendAudit(db, { source: "agent", event: "ciba.denied", decision: "denied", sub: "alice", act: { sub: "aurelius" }, orderId: MINE }, new Date("2030-01-01T00:10:03Z"));
    await db.query(
      `INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at, created_at)
       VALUES ('req-1', $1, 'BUY 38 NVDA max 5000.00 USD #K7Q2', 'pending', 5, '2030-01-01T00:12:02Z', '2030-01-01T00:10:07Z', '2030-01-01T00:10:02Z')`,
      [NEWER],
    );
    const result = await readSequence(db, { userSub: "alice", names: NAMES, now: new Date("2030-01-01T00:10:04Z") });
    expect(result!.orders.map((o) => [o.orderId, o.outcome])).toEqual([
      [NEWER, "in_progress"],
      [MINE, "denied"],
    ]);
    const seq = result!.sequence!;
    expect(seq.orderId).toBe(NEWER);
    expect(seq.messages.map((m) => m.kind)).toEqual(["order_frozen", "agent_call", "challenge", "ciba_request", "ciba_ack"]);
    expect(seq.messages.find((m) => m.kind === "ciba_ack")!.fields).toContainEqual({ name: "expires_in", value: "120 s" });
    expect(seq.messages.find((m) => m.kind === "ciba_request")!.fields).toContainEqual({ name: "binding_message", value: "BUY 38 NVDA max 5000.00 USD #K7Q2" });

    const older = await readSequence(db, { userSub: "alice", orderId: MINE, names: NAMES });
    expect(older!.sequence!.outcome).toBe("denied");
    expect(older!.sequence!.messages.map((m) => m.kind)).toEqual(["order_frozen", "final_poll", "access_denied"]);
  });
});
