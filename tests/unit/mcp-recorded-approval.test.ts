import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { listAudit } from "../../lib/ledger/audit";
import { listTrades } from "../../lib/ledger/trades";
import type { McpEndpoint } from "../../mcp/endpoint";
import { approvedOrderFromStore } from "../../mcp/stored-order";
import type { TestIssuer } from "../helpers/jwks-server";
import { connectInProcess, startInProcessMcp, type McpDeps } from "../helpers/mcp-in-process";

/**
 * The "recorded-approval" rule (identity servers without authorization_details): the order must be
 * recorded for the token's subject and approved, and the token must be the one recorded for that
 * approval (its jti); each token and order executes once. Runs the real endpoint in-process
 * against an in-memory store and a real MCP client. The attacks on this rule (a downgraded or
 * foreign token) are in tests/attack/downgraded-token.test.ts.
 */

const PUBLIC_URL = "http://localhost:3999";
let issuer: TestIssuer;
let rt: McpDeps;
let endpoint: McpEndpoint;
let stop: (() => Promise<void>) | undefined;

const connect = (token: string) => connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, token);

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0]?.text ?? "") as string;
}

async function insertOrder(orderId: string, o: { user?: string; status?: string; approval?: string | null; jti?: string | null; limit?: number; expiresInS?: number } = {}) {
  await rt.db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status)
     VALUES ($1, $2, 'NVDA', 'buy', 10, $3, 500000, $4, $5)`,
    [orderId, o.user ?? "alice", o.limit ?? 100000, new Date(Date.now() + (o.expiresInS ?? 300) * 1000).toISOString(), o.status ?? "approved"],
  );
  if (o.approval !== null) {
    await rt.db.query(
      `INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at, token_jti)
       VALUES ($1, $2, 'BUY 10 NVDA', $3, 5, now() + interval '2 minutes', now(), $4)`,
      [`req-${orderId}`, orderId, o.approval ?? "approved", o.jti === undefined ? `jti-${orderId}` : o.jti],
    );
  }
}

const oboClaims = { sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", client_id: "aurelius-agent" };

beforeAll(async () => {
  ({ issuer, broker: rt, endpoint, stop } = await startInProcessMcp(PUBLIC_URL, { binding: "recorded-approval" }));
});

afterAll(async () => {
  await stop?.();
});

beforeEach(async () => {
  await rt.db.query("DELETE FROM trades");
  await rt.db.query("DELETE FROM spent_authorizations");
  await rt.db.query("DELETE FROM pending_approvals");
  await rt.db.query("DELETE FROM orders");
});

describe("approvedOrderFromStore", () => {
  const token = (orderId: string, sub = "alice") => ({ sub, jti: `jti-${orderId}` });

  it("refuses an order that is not recorded", async () => {
    const id = "ord_AAAAAAAAAAAAAAAA0001";
    expect(await approvedOrderFromStore(rt.db, id, token(id))).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("refuses another user's order exactly like a missing one", async () => {
    const id = "ord_AAAAAAAAAAAAAAAA0002";
    await insertOrder(id, { user: "bob" });
    expect(await approvedOrderFromStore(rt.db, id, token(id))).toMatchObject({ ok: false, code: "order_not_approved", message: `No order ${id} is recorded for this user.` });
  });

  it("refuses an order in a terminal status", async () => {
    for (const [n, status] of [["3", "denied"], ["4", "executed"], ["5", "cancelled"], ["6", "failed"], ["7", "expired"]] as const) {
      const id = `ord_AAAAAAAAAAAAAAAA000${n}`;
      await insertOrder(id, { status });
      expect(await approvedOrderFromStore(rt.db, id, token(id))).toMatchObject({ ok: false, code: "order_not_executable" });
    }
  });

  it("refuses an order that Alice has not approved yet, even with an approved-looking request row", async () => {
    const id = "ord_AAAAAAAAAAAAAAAA0008";
    await insertOrder(id, { status: "awaiting_approval" });
    expect(await approvedOrderFromStore(rt.db, id, token(id))).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("refuses an approved order whose request is not recorded as approved", async () => {
    const denied = "ord_AAAAAAAAAAAAAAAA0009";
    await insertOrder(denied, { approval: "denied" });
    expect(await approvedOrderFromStore(rt.db, denied, token(denied))).toMatchObject({ ok: false, code: "token_not_bound" });
    const missing = "ord_AAAAAAAAAAAAAAAA0010";
    await insertOrder(missing, { approval: null });
    expect(await approvedOrderFromStore(rt.db, missing, token(missing))).toMatchObject({ ok: false, code: "token_not_bound" });
  });

  it("refuses a token other than the one recorded with the approval", async () => {
    const id = "ord_AAAAAAAAAAAAAAAA0011";
    await insertOrder(id);
    expect(await approvedOrderFromStore(rt.db, id, { sub: "alice", jti: "another-jti" })).toMatchObject({ ok: false, code: "token_not_bound" });
    const unbound = "ord_AAAAAAAAAAAAAAAA0012";
    await insertOrder(unbound, { jti: null });
    expect(await approvedOrderFromStore(rt.db, unbound, token(unbound))).toMatchObject({ ok: false, code: "token_not_bound" });
  });

  it("returns the stored order in cents for the recorded token", async () => {
    const id = "ord_AAAAAAAAAAAAAAAA0013";
    await insertOrder(id);
    const found = await approvedOrderFromStore(rt.db, id, token(id));
    expect(found).toMatchObject({ ok: true, order: { orderId: id, symbol: "NVDA", side: "buy", quantity: 10, limitPriceCents: 100000, maxNotionalCents: 500000 } });
  });
});

describe("buy_stock under the recorded-approval rule", () => {
  it("refuses a token without jti", async () => {
    await insertOrder("ord_BBBBBBBBBBBBBBBB0001");
    const client = await connect(await issuer.mint({ ...oboClaims, jti: undefined }));
    const result = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0001" } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain("jti_required");
    expect(await listTrades(rt.db)).toHaveLength(0);
    await client.close();
  });

  it("refuses an unknown order and a price above the stored limit", async () => {
    await insertOrder("ord_BBBBBBBBBBBBBBBB0002", { limit: 100 });
    const client = await connect(await issuer.mint({ ...oboClaims, jti: "jti-ord_BBBBBBBBBBBBBBBB0002" }));
    const unknown = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB9999" } });
    expect(textOf(unknown)).toContain("order_not_approved");
    const tooDear = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0002" } });
    expect(textOf(tooDear)).toContain("price_above_limit");
    expect(await listTrades(rt.db)).toHaveLength(0);
    await client.close();
  });

  it("executes an approved order once with its recorded token; the token cannot trade again", async () => {
    await insertOrder("ord_BBBBBBBBBBBBBBBB0003");
    await insertOrder("ord_BBBBBBBBBBBBBBBB0004", { jti: "jti-shared" });
    const token = await issuer.mint({ ...oboClaims, jti: "jti-ord_BBBBBBBBBBBBBBBB0003" });
    const client = await connect(token);
    const first = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0003" } });
    expect(first.isError).toBeFalsy();
    expect(first.structuredContent).toMatchObject({ status: "executed", user: "alice", actor: "aurelius", binding_rule: "recorded-approval" });
    const again = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0003" } });
    expect(again.isError).toBe(true);
    expect(textOf(again)).toContain("already_executed");

    const trades = await listTrades(rt.db);
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({ userSub: "alice", actorSub: "aurelius", orderId: "ord_BBBBBBBBBBBBBBBB0003", bindingRule: "recorded-approval" });
    const audit = await listAudit(rt.db, 5);
    const allowed = audit.find((a) => a.decision === "allowed" && a.tool === "buy_stock");
    expect(allowed).toMatchObject({ sub: "alice", bindingRule: "recorded-approval", orderId: "ord_BBBBBBBBBBBBBBBB0003" });
    expect(allowed!.argsDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(audit)).not.toContain(token);
    await client.close();
  });
});
