import type { JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAudit } from "@/lib/ledger/audit";
import { getPortfolio } from "@/lib/ledger/portfolio";
import { listTrades } from "@/lib/ledger/trades";
import type { McpEndpoint } from "@/mcp/endpoint";
import type { TestIssuer } from "../helpers/jwks-server";
import { inProcessFetch, startInProcessMcp, type McpDeps } from "../helpers/mcp-in-process";
import { order as stockTrade } from "../integration/idp-support";

/**
 * Nested `act` claims (RFC 8693 §4.1): the outermost `act` is the current actor, the nested ones
 * are earlier actors and only informational. The resource server records the whole chain in the
 * trade and in the audit record, attributes the trade to the outermost actor alone, and never lets
 * a nested actor stand in for a missing or malformed outermost one.
 *
 * In-process: the guarantee is what the broker writes to its store, which the test reads directly.
 */
const PUBLIC_URL = "http://localhost:3997";
const MCP_URL = `${PUBLIC_URL}/mcp`;
let issuer: TestIssuer;
let broker: McpDeps;
let endpoint: McpEndpoint;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ issuer, broker, endpoint, stop } = await startInProcessMcp(PUBLIC_URL));
});

afterAll(async () => {
  await stop?.();
});

/** An order the market price always meets. */
const order = () => stockTrade({ quantity: 1, limit_price: "9999.00", max_notional: "9999.00", expires_at: new Date(Date.now() + 5 * 60_000).toISOString() });

function oboToken(act: unknown, detail: ReturnType<typeof order>, extra: JWTPayload = {}): Promise<string> {
  return issuer.mint({ sub: "alice", act, scope: "openid stock:read stock:trade", client_id: "aurelius-agent", authorization_details: [detail], ...extra } as JWTPayload);
}

async function buy(token: string, detail: ReturnType<typeof order>): Promise<{ status: number; body: { result?: { isError?: boolean; structuredContent?: Record<string, unknown> } } }> {
  const res = await inProcessFetch(endpoint)(MCP_URL, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${token}`,
      "mcp-protocol-version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "buy_stock", arguments: { symbol: detail.symbol, quantity: detail.quantity, order_id: detail.order_id } } }),
  });
  return { status: res.status, body: (await res.json()) as never };
}

async function ledger() {
  const portfolio = await getPortfolio(broker.db, "alice", () => broker.market.snapshot().priceCents);
  return { trades: await listTrades(broker.db), cashCents: portfolio?.cashCents, holdings: portfolio?.holdings.map((h) => [h.symbol, h.quantity]) };
}

describe("a chain of actors", () => {
  it("is recorded whole in the trade and its audit record; the trade is attributed to the outermost actor", async () => {
    const detail = order();
    const act = { sub: "aurelius", act: { sub: "planner", act: { sub: "first-agent", iss: "https://elsewhere.example" } } };
    const result = await buy(await oboToken(act, detail, { jti: "jti-nested-1" }), detail);
    expect(result.status).toBe(200);
    expect(result.body.result?.isError).toBeFalsy();

    const [trade] = await listTrades(broker.db, { limit: 1 });
    expect(trade).toMatchObject({ orderId: detail.order_id, userSub: "alice", actorSub: "aurelius", actorChain: act });
    const [audit] = await listAudit(broker.db, 1);
    expect(audit).toMatchObject({ tool: "buy_stock", decision: "allowed", sub: "alice", actorChain: act, jti: "jti-nested-1", orderId: detail.order_id });
    const [activity] = await broker.activity.list(1);
    expect(activity).toMatchObject({ kind: "mcp.trade", data: expect.objectContaining({ actor: "aurelius" }) });
    expect(activity!.message).not.toContain("planner");
  });

  it("names the outermost actor even when an earlier actor is the trusted agent", async () => {
    const detail = order();
    const act = { sub: "mallory-bot", act: { sub: "aurelius" } };
    const result = await buy(await oboToken(act, detail), detail);
    expect(result.status).toBe(200);
    const [trade] = await listTrades(broker.db, { limit: 1 });
    expect(trade).toMatchObject({ orderId: detail.order_id, actorSub: "mallory-bot", actorChain: act });
    expect((await listAudit(broker.db, 1))[0]).toMatchObject({ orderId: detail.order_id, actorChain: act });
  });
});

describe("a nested actor never stands in for the outermost one", () => {
  it.each<[string, unknown]>([
    ["an outermost act without sub", { act: { sub: "aurelius" } }],
    ["an outermost act whose sub is not a string", { sub: 42, act: { sub: "aurelius" } }],
    ["an outermost act that is not an object", "aurelius"],
  ])("%s: 401 invalid_token, no trade and no record", async (_label, act) => {
    const detail = order();
    const before = { ledger: await ledger(), audit: await listAudit(broker.db, 1000) };
    const result = await buy(await oboToken(act, detail), detail);
    expect(result.status).toBe(401);
    expect((result.body as unknown as { error: string }).error).toBe("invalid_token");
    expect(await ledger()).toEqual(before.ledger);
    expect(await listAudit(broker.db, 1000)).toEqual(before.audit);
  });
});
