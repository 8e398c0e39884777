import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AppConfig } from "../../lib/config";
import { getPortfolio } from "../../lib/ledger/portfolio";
import { listTrades } from "../../lib/ledger/trades";
import { createMcpEndpoint, type McpEndpoint } from "../../mcp/endpoint";
import { startTestIssuer, type TestIssuer } from "../helpers/jwks-server";
import { configTrusting, connectInProcess, startMcpDeps, type McpDeps } from "../helpers/mcp-in-process";

/**
 * The downgraded token. A token signed by the trusted issuer for Alice, with stock:trade but
 * without `authorization_details` (what WSO2 issues for every on-behalf-of token, and any ordinary
 * Alice token at Auth0 would be), names the agent's order that is still waiting for her (its id is
 * public at GET /api/agent) and tries to buy it. The binding rule comes from the configuration, so
 * under "rar" such a token approves nothing, and under "recorded-approval" only the token the
 * agent obtained by redeeming Alice's approval of that order can execute it. Every attempt leaves
 * the ledger, the order and the approval as they were.
 */

const PUBLIC_URL = "http://localhost:3998";
const ORDER = "ord_DowngradeAttack000001";
const APPROVED_JTI = "jti-obo-from-alices-approval";
const args = { symbol: "NVDA", quantity: 5, order_id: ORDER };
const downgraded = { sub: "alice", scope: "openid stock:read stock:trade", client_id: "aurelius-agent", act: { sub: "aurelius" } };

let issuer: TestIssuer;
const worlds: { rule: AppConfig["auth"]["binding"]; rt: McpDeps; endpoint: McpEndpoint }[] = [];

function configFor(rule: AppConfig["auth"]["binding"]): AppConfig {
  const config = configTrusting(issuer, PUBLIC_URL);
  config.auth.binding = rule;
  return config;
}

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: `${PUBLIC_URL}/mcp` });
  for (const rule of ["rar", "recorded-approval"] as const) {
    const rt = await startMcpDeps(configFor(rule));
    worlds.push({ rule, rt, endpoint: createMcpEndpoint(rt) });
  }
});

afterAll(async () => {
  for (const w of worlds) {
    await w.endpoint.close();
    await w.rt.stop();
  }
  await issuer?.close();
});

const world = (rule: AppConfig["auth"]["binding"]) => worlds.find((w) => w.rule === rule)!;

/** The agent's order as the agent leaves it: frozen, sent to Alice, her decision `approval`. */
async function seedOrder(rt: McpDeps, orderStatus: string, approval: { status: string; jti: string | null }) {
  await rt.db.query("DELETE FROM trades");
  await rt.db.query("DELETE FROM spent_authorizations");
  await rt.db.query("DELETE FROM audit_log");
  await rt.db.query("DELETE FROM pending_approvals");
  await rt.db.query("DELETE FROM orders");
  await rt.db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status)
     VALUES ($1, 'alice', 'NVDA', 'buy', 10, 1000000, 5000000, now() + interval '5 minutes', $2)`,
    [ORDER, orderStatus],
  );
  await rt.db.query(
    `INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at, token_jti)
     VALUES ('req-downgrade', $1, 'BUY 10 NVDA', $2, 5, now() + interval '2 minutes', now(), $3)`,
    [ORDER, approval.status, approval.jti],
  );
}

/** Everything the attack must leave untouched. */
async function snapshot(rt: McpDeps) {
  const portfolio = await getPortfolio(rt.db, "alice", () => undefined);
  const [order] = await rt.db.query<{ status: string }>("SELECT status FROM orders WHERE order_id = $1", [ORDER]);
  const [approval] = await rt.db.query<{ status: string; token_jti: string | null }>("SELECT status, token_jti FROM pending_approvals WHERE order_id = $1", [ORDER]);
  return { trades: (await listTrades(rt.db)).length, cash: portfolio?.cashCents, holdings: portfolio?.holdings, order: order?.status, approval };
}

async function attempt(rule: AppConfig["auth"]["binding"], claims: Record<string, unknown>, tool = "buy_stock") {
  const { endpoint } = world(rule);
  const client = await connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, await issuer.mint(claims));
  try {
    const result = await client.callTool({ name: tool, arguments: args });
    return { isError: result.isError === true, text: (result.content as { text: string }[])[0]?.text ?? "" };
  } finally {
    await client.close();
  }
}

describe('binding rule "rar" (embedded server, Auth0)', () => {
  const rt = () => world("rar").rt;
  beforeEach(() => seedOrder(rt(), "awaiting_approval", { status: "pending", jti: null }));

  it("refuses a token without authorization_details for the order still waiting for Alice; nothing changes", async () => {
    const before = await snapshot(rt());
    const result = await attempt("rar", downgraded);
    expect(result).toMatchObject({ isError: true });
    expect(result.text).toContain("authorization_details_required");
    expect(await snapshot(rt())).toEqual(before);
  });

  it("refuses the same token for an order already approved and recorded", async () => {
    await seedOrder(rt(), "approved", { status: "approved", jti: APPROVED_JTI });
    const before = await snapshot(rt());
    const result = await attempt("rar", { ...downgraded, jti: APPROVED_JTI });
    expect(result.text).toContain("authorization_details_required");
    expect(await snapshot(rt())).toEqual(before);
  });

  it("refuses a token whose authorization_details approve another order", async () => {
    const before = await snapshot(rt());
    const other = { type: "stock_trade", order_id: "ord_SomeOtherOrder00000001", symbol: "NVDA", side: "buy", quantity: 10, limit_price: "10000.00", max_notional: "50000.00", expires_at: new Date(Date.now() + 300_000).toISOString() };
    const result = await attempt("rar", { ...downgraded, authorization_details: [other] });
    expect(result.text).toContain("order_not_approved");
    expect(await snapshot(rt())).toEqual(before);
  });
});

describe('binding rule "rar": the store closes an order for good', () => {
  const rt = () => world("rar").rt;
  const detail = () => ({ type: "stock_trade", order_id: ORDER, symbol: "NVDA", side: "buy", quantity: 10, limit_price: "10000.00", max_notional: "50000.00", expires_at: new Date(Date.now() + 300_000).toISOString() });

  it("refuses a token that approves the order once the store has closed it (a crash recovery failed it, a reset cancelled it)", async () => {
    for (const status of ["failed", "cancelled", "denied", "expired"]) {
      await seedOrder(rt(), status, { status: "approved", jti: null });
      const before = await snapshot(rt());
      const result = await attempt("rar", { ...downgraded, authorization_details: [detail()] });
      expect(result.text).toContain("order_not_executable");
      expect(await snapshot(rt())).toEqual(before);
    }
  });

  it("executes with the same token while the stored order is approved, once, also after a demo reset empties the trades", async () => {
    await seedOrder(rt(), "approved", { status: "approved", jti: null });
    const claims = { ...downgraded, jti: "jti-rar-reset", authorization_details: [detail()] };
    const result = await attempt("rar", claims);
    expect(result.isError).toBe(false);
    expect((await snapshot(rt())).trades).toBe(1);

    // The demo reset's ledger statements (lib/demo.ts): trades, holdings and portfolios emptied.
    await rt().db.query("DELETE FROM trades");
    await rt().db.query("DELETE FROM holdings");
    await rt().db.query("UPDATE portfolios SET cash_cents = initial_cash_cents");
    const afterReset = await snapshot(rt());
    const replay = await attempt("rar", claims);
    expect(replay.text).toContain("already_executed");
    const otherToken = await attempt("rar", { ...claims, jti: "jti-rar-reset-2" });
    expect(otherToken.text).toContain("already_executed");
    expect(await snapshot(rt())).toEqual(afterReset);
  });
});

describe('binding rule "recorded-approval" (WSO2)', () => {
  const rt = () => world("recorded-approval").rt;

  it("refuses a downgraded token for the order still waiting for Alice; nothing changes", async () => {
    await seedOrder(rt(), "awaiting_approval", { status: "pending", jti: null });
    const before = await snapshot(rt());
    const result = await attempt("recorded-approval", downgraded);
    expect(result).toMatchObject({ isError: true });
    expect(result.text).toContain("order_not_approved");
    expect(await snapshot(rt())).toEqual(before);
  });

  it("refuses a sell with the same token too", async () => {
    await seedOrder(rt(), "awaiting_approval", { status: "pending", jti: null });
    const before = await snapshot(rt());
    const result = await attempt("recorded-approval", downgraded, "sell_stock");
    expect(result.isError).toBe(true);
    expect(await snapshot(rt())).toEqual(before);
  });

  it("refuses any token but the one recorded with Alice's approval, once she has approved", async () => {
    await seedOrder(rt(), "approved", { status: "approved", jti: APPROVED_JTI });
    const before = await snapshot(rt());
    const foreign = await attempt("recorded-approval", { ...downgraded, jti: "jti-some-other-alice-token" });
    expect(foreign.text).toContain("token_not_bound");
    const noJti = await attempt("recorded-approval", { ...downgraded, jti: undefined });
    expect(noJti.text).toContain("jti_required");
    const otherUser = await attempt("recorded-approval", { ...downgraded, sub: "mallory", jti: APPROVED_JTI });
    expect(otherUser.text).toContain("order_not_approved");
    expect(await snapshot(rt())).toEqual(before);
  });

  it("refuses the recorded token while the order itself is not approved (decision not taken by the agent)", async () => {
    await seedOrder(rt(), "awaiting_approval", { status: "approved", jti: APPROVED_JTI });
    const before = await snapshot(rt());
    const result = await attempt("recorded-approval", { ...downgraded, jti: APPROVED_JTI });
    expect(result.text).toContain("order_not_approved");
    expect(await snapshot(rt())).toEqual(before);
  });

  it("executes the approved order once with the recorded token, and never again", async () => {
    await seedOrder(rt(), "approved", { status: "approved", jti: APPROVED_JTI });
    const first = await attempt("recorded-approval", { ...downgraded, jti: APPROVED_JTI });
    expect(first.isError).toBe(false);
    const after = await snapshot(rt());
    expect(after.trades).toBe(1);
    const replay = await attempt("recorded-approval", { ...downgraded, jti: APPROVED_JTI });
    expect(replay.text).toContain("already_executed");
    expect(await snapshot(rt())).toEqual(after);
  });
});
