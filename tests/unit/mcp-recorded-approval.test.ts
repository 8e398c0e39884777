import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config";
import { listAudit } from "../../lib/ledger/audit";
import { listTrades } from "../../lib/ledger/trades";
import { createMcpEndpoint, type McpEndpoint } from "../../mcp/endpoint";
import { findStoredApprovedOrder } from "../../mcp/pending-approval";
import { startTestIssuer, type TestIssuer } from "../helpers/jwks-server";
import { connectInProcess, startBroker } from "../helpers/mcp-broker";

/**
 * The "pending-approval" rule (identity servers without authorization_details): the order must be
 * recorded in the store with a usable approval, for the token's subject, and the token's jti is
 * single-use. Runs the real endpoint in-process against an in-memory store and a real MCP client.
 */

const PUBLIC_URL = "http://localhost:3999";
let issuer: TestIssuer;
let rt: Awaited<ReturnType<typeof startBroker>>;
let endpoint: McpEndpoint;

const connect = (token: string) => connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, token);

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0]?.text ?? "") as string;
}

async function insertOrder(orderId: string, o: { user?: string; status?: string; approval?: string | null; limit?: number; expiresInS?: number } = {}) {
  await rt.db.query(
    `INSERT INTO orders (order_id, user_sub, symbol, side, quantity, limit_price_cents, max_notional_cents, expires_at, status)
     VALUES ($1, $2, 'NVDA', 'buy', 10, $3, 500000, $4, $5)`,
    [orderId, o.user ?? "alice", o.limit ?? 100000, new Date(Date.now() + (o.expiresInS ?? 300) * 1000).toISOString(), o.status ?? "awaiting_approval"],
  );
  if (o.approval !== null) {
    await rt.db.query(
      `INSERT INTO pending_approvals (auth_req_id, order_id, binding_message, status, interval_seconds, expires_at, next_poll_at)
       VALUES ($1, $2, 'BUY 10 NVDA', $3, 5, now() + interval '2 minutes', now())`,
      [`req-${orderId}`, orderId, o.approval ?? "approved"],
    );
  }
}

const oboClaims = { sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", client_id: "aurelius-agent" };

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: `${PUBLIC_URL}/mcp` });
  const config = parseConfig({
    NODE_ENV: "test",
    PUBLIC_URL,
    DATA_DIR: "memory://",
    AUTH_ISSUER: issuer.issuer,
    AUTH_JWKS_URI: issuer.jwksUri,
  });
  rt = await startBroker(config);
  endpoint = createMcpEndpoint(rt);
});

afterAll(async () => {
  await endpoint?.close();
  await rt?.stop();
  await issuer?.close();
});

beforeEach(async () => {
  await rt.db.query("DELETE FROM trades");
  await rt.db.query("DELETE FROM pending_approvals");
  await rt.db.query("DELETE FROM orders");
});

describe("findStoredApprovedOrder", () => {
  it("refuses an order that is not recorded", async () => {
    expect(await findStoredApprovedOrder(rt.db, "ord_AAAAAAAAAAAAAAAA0001", "alice")).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("refuses another user's order exactly like a missing one", async () => {
    await insertOrder("ord_AAAAAAAAAAAAAAAA0002", { user: "bob" });
    expect(await findStoredApprovedOrder(rt.db, "ord_AAAAAAAAAAAAAAAA0002", "alice")).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("refuses an order in a terminal status", async () => {
    await insertOrder("ord_AAAAAAAAAAAAAAAA0003", { status: "denied" });
    expect(await findStoredApprovedOrder(rt.db, "ord_AAAAAAAAAAAAAAAA0003", "alice")).toMatchObject({ ok: false, code: "order_not_executable" });
  });

  it("refuses an order without a usable approval", async () => {
    await insertOrder("ord_AAAAAAAAAAAAAAAA0004", { approval: "denied" });
    expect(await findStoredApprovedOrder(rt.db, "ord_AAAAAAAAAAAAAAAA0004", "alice")).toMatchObject({ ok: false, code: "order_not_approved" });
    await insertOrder("ord_AAAAAAAAAAAAAAAA0005", { approval: null });
    expect(await findStoredApprovedOrder(rt.db, "ord_AAAAAAAAAAAAAAAA0005", "alice")).toMatchObject({ ok: false, code: "order_not_approved" });
  });

  it("returns the stored order in cents", async () => {
    await insertOrder("ord_AAAAAAAAAAAAAAAA0006");
    const found = await findStoredApprovedOrder(rt.db, "ord_AAAAAAAAAAAAAAAA0006", "alice");
    expect(found).toMatchObject({ ok: true, order: { orderId: "ord_AAAAAAAAAAAAAAAA0006", symbol: "NVDA", side: "buy", quantity: 10, limitPriceCents: 100000, maxNotionalCents: 500000 } });
  });
});

describe("buy_stock under the pending-approval rule", () => {
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
    const client = await connect(await issuer.mint(oboClaims));
    const unknown = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB9999" } });
    expect(textOf(unknown)).toContain("order_not_approved");
    const tooDear = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0002" } });
    expect(textOf(tooDear)).toContain("price_above_limit");
    expect(await listTrades(rt.db)).toHaveLength(0);
    await client.close();
  });

  it("executes a recorded, approved order once; the same jti cannot trade again", async () => {
    await insertOrder("ord_BBBBBBBBBBBBBBBB0003");
    await insertOrder("ord_BBBBBBBBBBBBBBBB0004");
    const token = await issuer.mint(oboClaims);
    const client = await connect(token);
    const first = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0003" } });
    expect(first.isError).toBeFalsy();
    expect(first.structuredContent).toMatchObject({ status: "executed", user: "alice", actor: "aurelius", binding_rule: "pending-approval" });
    const sameToken = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 5, order_id: "ord_BBBBBBBBBBBBBBBB0004" } });
    expect(sameToken.isError).toBe(true);
    expect(textOf(sameToken)).toContain("already_executed");

    const trades = await listTrades(rt.db);
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({ userSub: "alice", actorSub: "aurelius", orderId: "ord_BBBBBBBBBBBBBBBB0003", bindingRule: "pending-approval" });
    const audit = await listAudit(rt.db, 5);
    const allowed = audit.find((a) => a.decision === "allowed" && a.tool === "buy_stock");
    expect(allowed).toMatchObject({ sub: "alice", bindingRule: "pending-approval", orderId: "ord_BBBBBBBBBBBBBBBB0003" });
    expect(allowed!.argsDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(audit)).not.toContain(token);
    await client.close();
  });
});
