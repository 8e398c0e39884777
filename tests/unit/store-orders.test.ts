import { describe, expect, it } from "vitest";
import { findTradeForOrder, getOrder, lockOrderStatus, lockOrderWithApproval } from "@/lib/store/orders";
import { useTestDb } from "../helpers/store";

/**
 * The order SQL the agent and the resource server share: one store per file, emptied between
 * cases. Negative cases first.
 */
const db = useTestDb((store) => store.query("TRUNCATE trades, pending_approvals, orders CASCADE"));

const ORDER_ID = "ord_ABCDEFGHJKLMNPQR2345";
const EXPIRES = "2030-01-01T00:05:00.000Z";

async function insertOrder(orderId = ORDER_ID, status = "approved") {
  const detail = { type: "stock_trade", order_id: orderId, symbol: "NVDA", side: "buy", quantity: 38, limit_price: "131.20", max_notional: "5000.00", expires_at: EXPIRES };
  await db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status, detail)
     VALUES ($1, 'alice', 'NVDA', 'buy', 38, 13120, 500000, $2, $3, $4)`,
    [orderId, EXPIRES, status, JSON.stringify(detail)],
  );
}

async function insertApproval(status: string, jti: string | null, orderId = ORDER_ID) {
  await db.query(
    `INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at, token_jti)
     VALUES ($1, $2, 'BUY 38 NVDA', $3, 5, now() + interval '2 minutes', now(), $4)`,
    [`req-${status}-${orderId}`, orderId, status, jti],
  );
}

describe("unknown orders", () => {
  it("read as undefined everywhere", async () => {
    expect(await getOrder(db, ORDER_ID)).toBeUndefined();
    expect(await lockOrderStatus(db, ORDER_ID)).toBeUndefined();
    expect(await lockOrderWithApproval(db, ORDER_ID)).toBeUndefined();
    expect(await findTradeForOrder(db, ORDER_ID)).toBeUndefined();
  });
});

describe("lockOrderWithApproval", () => {
  it("has no token jti while no approved request is recorded, whatever the others hold", async () => {
    await insertOrder();
    await insertApproval("denied", "jti-denied");
    await insertApproval("pending", null);
    expect(await lockOrderWithApproval(db, ORDER_ID)).toMatchObject({ approvedTokenJti: null });
  });

  it("reads the order in cents with the approved request's token jti", async () => {
    await insertOrder();
    await insertApproval("approved", "jti-1");
    expect(await lockOrderWithApproval(db, ORDER_ID)).toEqual({
      orderId: ORDER_ID,
      userSub: "alice",
      symbol: "NVDA",
      side: "buy",
      quantity: 38,
      limitPriceCents: 13120,
      maxNotionalCents: 500000,
      expiresAt: new Date(EXPIRES),
      status: "approved",
      approvedTokenJti: "jti-1",
    });
  });
});

describe("getOrder and lockOrderStatus", () => {
  it("read the frozen order and its status", async () => {
    await insertOrder(ORDER_ID, "awaiting_approval");
    expect(await lockOrderStatus(db, ORDER_ID)).toBe("awaiting_approval");
    const record = await getOrder(db, ORDER_ID);
    expect(record).toMatchObject({ orderId: ORDER_ID, status: "awaiting_approval", statusReason: null, tradeId: null });
    expect(record?.detail).toMatchObject({ order_id: ORDER_ID, quantity: 38, limit_price: "131.20" });
    expect(record?.createdAt).toBeInstanceOf(Date);
  });
});

describe("findTradeForOrder", () => {
  it("finds the one trade of the order and maps its row like the ledger does", async () => {
    await db.query(
      `INSERT INTO trades (user_sub, actor_sub, order_id, token_jti, symbol, side, quantity, price_cents, notional_cents, binding_rule)
       VALUES ('alice', 'aurelius', $1, 'jti-1', 'NVDA', 'buy', 38, 13000, 494000, 'rar')`,
      [ORDER_ID],
    );
    expect(await findTradeForOrder(db, "ord_OTHERabcdefghij0123")).toBeUndefined();
    const trade = await findTradeForOrder(db, ORDER_ID);
    expect(trade).toMatchObject({ userSub: "alice", actorSub: "aurelius", orderId: ORDER_ID, symbol: "NVDA", side: "buy", quantity: 38, priceCents: 13000, notionalCents: 494000, bindingRule: "rar" });
    expect(trade?.id).toEqual(expect.any(Number));
    expect(trade?.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
