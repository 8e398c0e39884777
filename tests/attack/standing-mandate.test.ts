import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getPortfolio } from "../../lib/ledger/portfolio";
import { listTrades } from "../../lib/ledger/trades";
import { formatMoney } from "../../lib/money";
import { connectInProcess, startInProcessMcp, type InProcessMcp } from "../helpers/mcp-in-process";

/**
 * Trades under Alice's standing mandate (stock_trade_mandate), attacked at /mcp. A token signed by
 * the trusted issuer carries the mandate; the store says whether it stands and what it has spent
 * today. Every refusal leaves the ledger, the mandate and its spend as they were; racing trades
 * never spend more than the daily amount.
 */

const PUBLIC_URL = "http://localhost:3997";
const MANDATE = "mdt_StandingMandate000001";
let mcp: InProcessMcp;
let price: number;

const future = () => new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000).toISOString();

/** The mandate as the token carries it: per trade up to 2 shares, per day up to 5 shares, at the harness's fixed price. */
function mandateDetail(overrides: Record<string, unknown> = {}) {
  return {
    type: "stock_trade_mandate",
    mandate_id: MANDATE,
    symbol: "NVDA",
    side: "buy",
    max_per_trade: formatMoney(price * 2),
    max_per_day: formatMoney(price * 5),
    currency: "USD",
    expires_at: EXPIRES,
    ...overrides,
  };
}
let EXPIRES: string;
let tokenCount = 0;

function claims(overrides: Record<string, unknown> = {}) {
  return {
    sub: "alice",
    scope: "openid stock:read stock:trade",
    client_id: "aurelius-agent",
    act: { sub: "aurelius" },
    jti: `jti-mandate-${++tokenCount}`,
    authorization_details: [mandateDetail()],
    ...overrides,
  };
}

async function seedMandate(status: string, overrides: { symbol?: string; expiresAt?: string; userSub?: string } = {}) {
  const db = mcp.broker.db;
  for (const table of ["mandate_spend", "mandates", "trades", "spent_authorizations", "audit_log"]) await db.query(`DELETE FROM ${table}`);
  await db.query("UPDATE portfolios SET cash_cents = initial_cash_cents");
  await db.query("DELETE FROM holdings");
  await db.query(
    `INSERT INTO mandates (mandate_id, user_sub, agent_sub, symbol, max_per_trade_cents, max_per_day_cents, expires_at, status)
     VALUES ($1, $2, 'aurelius', $3, $4, $5, $6, $7)`,
    [MANDATE, overrides.userSub ?? "alice", overrides.symbol ?? "NVDA", price * 2, price * 5, overrides.expiresAt ?? EXPIRES, status],
  );
}

let orderCount = 0;
const orderId = () => `ord_MandateTrade${String(++orderCount).padStart(10, "0")}`;

async function buy(tokenClaims: Record<string, unknown>, quantity: number, tool = "buy_stock") {
  const client = await connectInProcess(mcp.endpoint, `${PUBLIC_URL}/mcp`, await mcp.issuer.mint(tokenClaims));
  try {
    const result = await client.callTool({ name: tool, arguments: { symbol: "NVDA", quantity, order_id: orderId() } });
    return { isError: result.isError === true, text: (result.content as { text: string }[])[0]?.text ?? "" };
  } finally {
    await client.close();
  }
}

/** Everything a refused trade must leave untouched. */
async function snapshot() {
  const db = mcp.broker.db;
  const portfolio = await getPortfolio(db, "alice", () => undefined);
  const [mandate] = await db.query<{ status: string }>("SELECT status FROM mandates WHERE mandate_id = $1", [MANDATE]);
  const spend = await db.query<{ spent_cents: string | number; trades: number }>("SELECT spent_cents, trades FROM mandate_spend WHERE mandate_id = $1", [MANDATE]);
  return { trades: (await listTrades(db)).length, cash: portfolio?.cashCents, holdings: portfolio?.holdings, mandate: mandate?.status, spend: spend.map((s) => [Number(s.spent_cents), s.trades]) };
}

async function spentToday(): Promise<number> {
  const [row] = await mcp.broker.db.query<{ spent_cents: string | number }>("SELECT spent_cents FROM mandate_spend WHERE mandate_id = $1", [MANDATE]);
  return row ? Number(row.spent_cents) : 0;
}

beforeAll(async () => {
  mcp = await startInProcessMcp(PUBLIC_URL, { binding: "rar" });
  price = mcp.broker.market.snapshot().priceCents;
  EXPIRES = future();
});

afterAll(async () => {
  await mcp?.stop();
});

describe("a trade above the mandate", () => {
  beforeEach(() => seedMandate("granted"));

  it("refuses a trade over the per-trade amount: it needs a per-order approval; nothing changes", async () => {
    const before = await snapshot();
    const result = await buy(claims(), 3);
    expect(result.isError).toBe(true);
    expect(result.text).toContain("mandate_per_trade_exceeded");
    expect(await snapshot()).toEqual(before);
  });

  it("refuses the trade that would pass the day's amount, after trades that fit", async () => {
    expect((await buy(claims(), 2)).isError).toBe(false);
    expect((await buy(claims(), 2)).isError).toBe(false);
    const before = await snapshot();
    const third = await buy(claims(), 2);
    expect(third.text).toContain("mandate_daily_limit_exceeded");
    expect(await snapshot()).toEqual(before);
    expect((await buy(claims(), 1)).isError).toBe(false);
    expect(await spentToday()).toBe(price * 5);
  });

  it("lets concurrent trades racing the daily amount spend at most that amount", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => buy(claims(), 2)));
    const executed = results.filter((r) => !r.isError);
    const refused = results.filter((r) => r.isError);
    // 5 shares a day, 2 a trade: exactly two trades fit.
    expect(executed).toHaveLength(2);
    expect(refused.every((r) => r.text.includes("mandate_daily_limit_exceeded"))).toBe(true);
    expect(await spentToday()).toBe(price * 4);
    const trades = await listTrades(mcp.broker.db);
    expect(trades.reduce((sum, t) => sum + t.priceCents * t.quantity, 0)).toBe(price * 4);
  });

  it("refuses a sale under a mandate: it only buys", async () => {
    const before = await snapshot();
    const result = await buy(claims(), 1, "sell_stock");
    expect(result.text).toContain("mandate_side_not_allowed");
    expect(await snapshot()).toEqual(before);
  });
});

describe("a mandate that does not cover the trade", () => {
  it("refuses a mandate token for another symbol", async () => {
    await seedMandate("granted", { symbol: "AMD" });
    const before = await snapshot();
    const result = await buy(claims({ authorization_details: [mandateDetail({ symbol: "AMD" })] }), 1);
    expect(result.text).toContain("mandate_symbol_mismatch");
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a revoked mandate with an otherwise valid token", async () => {
    await seedMandate("revoked");
    const before = await snapshot();
    const result = await buy(claims(), 1);
    expect(result.text).toContain("mandate_revoked");
    expect(await snapshot()).toEqual(before);
  });

  it("refuses an expired mandate", async () => {
    const past = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000).toISOString();
    await seedMandate("granted", { expiresAt: past });
    const before = await snapshot();
    const result = await buy(claims({ authorization_details: [mandateDetail({ expires_at: past })] }), 1);
    expect(result.text).toContain("mandate_expired");
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a mandate Alice asked for that the server has not granted", async () => {
    await seedMandate("requested");
    const before = await snapshot();
    expect((await buy(claims(), 1)).text).toContain("mandate_not_granted");
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a token whose terms differ from the mandate as recorded, and another user's token", async () => {
    await seedMandate("granted");
    const before = await snapshot();
    const wider = await buy(claims({ authorization_details: [mandateDetail({ max_per_day: formatMoney(price * 50) })] }), 1);
    expect(wider.text).toContain("mandate_not_granted");
    const mallory = await buy(claims({ sub: "mallory" }), 1);
    expect(mallory.text).toContain("mandate_not_granted");
    const otherAgent = await buy(claims({ act: { sub: "some-other-agent" } }), 1);
    expect(otherAgent.text).toContain("mandate_not_granted");
    expect(await snapshot()).toEqual(before);
  });
});

describe("a token that is not a mandate token", () => {
  beforeEach(() => seedMandate("granted"));

  it("refuses a token without the mandate's authorization_details", async () => {
    const before = await snapshot();
    const result = await buy(claims({ authorization_details: undefined }), 1);
    expect(result.text).toContain("authorization_details_required");
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a mandate token without an actor, a malformed mandate, and a mandate beside an order", async () => {
    const before = await snapshot();
    expect((await buy(claims({ act: undefined, client_id: undefined }), 1)).text).toContain("actor_required");
    expect((await buy(claims({ authorization_details: [mandateDetail({ extra: "1" })] }), 1)).text).toContain("invalid_authorization_details");
    expect((await buy(claims({ authorization_details: [mandateDetail({ max_per_trade: formatMoney(price * 6) })] }), 1)).text).toContain(
      "invalid_authorization_details",
    );
    const order = { type: "stock_trade", order_id: "ord_SomeOrder0000000000001", symbol: "NVDA", side: "buy", quantity: 1, limit_price: "100000.00", max_notional: "100000.00", expires_at: EXPIRES };
    expect((await buy(claims({ authorization_details: [mandateDetail(), order] }), 1)).text).toContain("invalid_authorization_details");
    expect(await snapshot()).toEqual(before);
  });

  it("executes a trade within the mandate without any approval, and records the day's spend", async () => {
    const result = await buy(claims(), 2);
    expect(result.isError).toBe(false);
    expect(await spentToday()).toBe(price * 2);
    const [trade] = await listTrades(mcp.broker.db);
    expect(trade).toMatchObject({ userSub: "alice", actorSub: "aurelius", quantity: 2, bindingRule: "mandate" });
  });
});
