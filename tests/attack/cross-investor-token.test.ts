import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ensurePortfolio } from "../../lib/ledger/portfolio";
import { listTrades } from "../../lib/ledger/trades";
import type { McpEndpoint } from "../../mcp/endpoint";
import type { TestIssuer } from "../helpers/jwks-server";
import { connectInProcess, startInProcessMcp, type McpDeps } from "../helpers/mcp-in-process";

/**
 * A token for Bob against Alice's order and data, at the resource server: the real /mcp endpoint
 * in-process (gate, tools, ledger) on an in-memory store, a real MCP client, tokens signed by a
 * test issuer the endpoint trusts through its JWKS. The rule is "rar" (the order travels in the
 * token), where an order the store records for Alice must still not execute for Bob: his trade
 * would spend her order id, so her approved order could never execute.
 */
const PUBLIC_URL = "http://localhost:3998";
let issuer: TestIssuer;
let rt: McpDeps;
let endpoint: McpEndpoint;
let stop: (() => Promise<void>) | undefined;

const ALICE_ORDER = "ord_ALICEALICEALICE0001";
const detail = { type: "stock_trade", order_id: ALICE_ORDER, symbol: "NVDA", side: "buy", quantity: 2, limit_price: "1000.00", max_notional: "5000.00" };
const oboFor = (sub: string) =>
  issuer.mint({
    sub,
    act: { sub: "aurelius" },
    scope: "openid stock:read stock:trade",
    client_id: "aurelius-agent",
    authorization_details: [{ ...detail, expires_at: new Date(Date.now() + 300_000).toISOString() }],
  });
const textOf = (result: unknown) => ((result as { content: { text: string }[] }).content[0]?.text ?? "") as string;

beforeAll(async () => {
  ({ issuer, broker: rt, endpoint, stop } = await startInProcessMcp(PUBLIC_URL));
  await ensurePortfolio(rt.db, "bob", "Bob", 1_000_000);
});
afterAll(async () => stop?.());

beforeEach(async () => {
  await rt.db.query("DELETE FROM trades");
  await rt.db.query("DELETE FROM spent_authorizations");
  await rt.db.query("DELETE FROM pending_approvals");
  await rt.db.query("DELETE FROM orders");
  await rt.db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status)
     VALUES ($1, 'alice', 'NVDA', 'buy', 2, 100000, 500000, now() + interval '5 minutes', 'approved')`,
    [ALICE_ORDER],
  );
});

describe("a token for Bob", () => {
  it("cannot trade Alice's recorded order: order_not_approved, no trade for anyone, her order still executes", async () => {
    const bob = await connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, await oboFor("bob"));
    const refused = await bob.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 2, order_id: ALICE_ORDER } });
    await bob.close();
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/^Refused \(order_not_approved\)/);
    expect(await listTrades(rt.db, { userSub: "bob" })).toEqual([]);
    expect(await listTrades(rt.db, { userSub: "alice" })).toEqual([]);

    const alice = await connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, await oboFor("alice"));
    const traded = await alice.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 2, order_id: ALICE_ORDER } });
    await alice.close();
    expect(traded.isError).toBeFalsy();
    expect(await listTrades(rt.db, { userSub: "alice" })).toHaveLength(1);
  });

  it("reads Bob's portfolio and history, never Alice's", async () => {
    const alice = await connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, await oboFor("alice"));
    expect((await alice.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 2, order_id: ALICE_ORDER } })).isError).toBeFalsy();
    await alice.close();
    const bob = await connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, await issuer.mint({ sub: "bob", scope: "openid stock:read", client_id: "some-client" }));
    const portfolio = await bob.callTool({ name: "get_portfolio", arguments: {} });
    const history = await bob.callTool({ name: "get_trade_history", arguments: {} });
    await bob.close();
    expect(portfolio.structuredContent).toMatchObject({ user: "bob", holdings: [] });
    expect(history.structuredContent).toMatchObject({ user: "bob", trades: [] });
  });
});
