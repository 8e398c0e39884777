import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAudit } from "../../lib/ledger/audit";
import { canonicalJson, digestArguments } from "../../mcp/audit";
import type { McpEndpoint } from "../../mcp/endpoint";
import type { TestIssuer } from "../helpers/jwks-server";
import { connectInProcess, inProcessFetch, startInProcessMcp, type McpDeps } from "../helpers/mcp-in-process";

/**
 * Every tool call leaves one audit record (allowed or refused, with the reason), including the
 * calls the tool never sees (per-tool scope challenge, invalid arguments); trades and refused
 * trades also tell the dashboard's activity log. No record carries the token.
 */

const PUBLIC_URL = "http://localhost:3998";
let issuer: TestIssuer;
let broker: McpDeps;
let endpoint: McpEndpoint;
let stop: (() => Promise<void>) | undefined;
const tokens: string[] = [];

async function mint(claims: Record<string, unknown>) {
  const token = await issuer.mint(claims);
  tokens.push(token);
  return token;
}
const connect = (token: string) => connectInProcess(endpoint, `${PUBLIC_URL}/mcp`, token);

beforeAll(async () => {
  ({ issuer, broker, endpoint, stop } = await startInProcessMcp(PUBLIC_URL));
});

afterAll(async () => {
  await stop?.();
});

describe("canonical argument digests", () => {
  it("ignores key order and distinguishes values", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, "x"], c: null } })).toBe('{"a":{"c":null,"d":[1,"x"]},"b":1}');
    expect(digestArguments({ symbol: "NVDA", quantity: 1 })).toBe(digestArguments({ quantity: 1, symbol: "NVDA" }));
    expect(digestArguments({ quantity: 1 })).not.toBe(digestArguments({ quantity: 2 }));
  });
});

describe("audit records", () => {
  it("records a transaction challenge (403) that the tool never saw, with the order the broker named, and tells the activity log", async () => {
    const orderId = `ord_${randomBytes(10).toString("hex")}`;
    const token = await mint({ sub: "aurelius", scope: "openid stock:read", client_id: "aurelius-agent" });
    const res = await inProcessFetch(endpoint)(`${PUBLIC_URL}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "buy_stock", arguments: { symbol: "NVDA", quantity: 3, order_id: orderId } } }),
    });
    expect(res.status).toBe(403);
    // The order the broker froze and named in the challenge, not the id the caller made up.
    const remediation = /authorization_remediation="([^"]+)"/.exec(res.headers.get("www-authenticate") ?? "")?.[1];
    const named = (JSON.parse(Buffer.from(remediation!, "base64url").toString("utf8")) as { authorization_details: Array<{ order_id: string }> }).authorization_details[0]!.order_id;
    expect(named).not.toBe(orderId);
    const [record] = await listAudit(broker.db, 1);
    expect(record).toMatchObject({
      tool: "buy_stock",
      decision: "refused",
      sub: "aurelius",
      clientId: "aurelius-agent",
      scopes: "openid stock:read",
      orderId: named,
      argsDigest: digestArguments({ symbol: "NVDA", quantity: 3, order_id: orderId }),
    });
    expect(record!.reason).toMatch(/^insufficient_authorization: /);
    const [activity] = await broker.activity.list(1);
    expect(activity).toMatchObject({ kind: "mcp.challenge", level: "warn" });
    expect(activity!.message).toContain(named);
  });

  it("records invalid arguments as a refusal with a digest of what was sent", async () => {
    const client = await connect(await mint({ sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", authorization_details: [] }));
    const result = await client.callTool({ name: "sell_stock", arguments: { symbol: "NVDA", quantity: -5, order_id: "ord_x" } });
    expect(result.isError).toBe(true);
    const [record] = await listAudit(broker.db, 1);
    expect(record).toMatchObject({ tool: "sell_stock", decision: "refused", sub: "alice", actorChain: { sub: "aurelius" } });
    expect(record!.reason).toMatch(/^invalid_arguments: /);
    expect(record!.argsDigest).toBe(digestArguments({ symbol: "NVDA", quantity: -5, order_id: "ord_x" }));
    await client.close();
  });

  it("records allowed reads, and a trade with its rule, actor chain and jti in the same transaction", async () => {
    const orderId = `ord_${randomBytes(10).toString("hex")}`;
    const detail = { type: "stock_trade", order_id: orderId, symbol: "NVDA", side: "buy", quantity: 1, limit_price: "999.99", max_notional: "999.99", expires_at: new Date(Date.now() + 60_000).toISOString() };
    const act = { sub: "aurelius", act: { sub: "planner" } };
    const token = await mint({ sub: "alice", act, scope: "openid stock:read stock:trade", client_id: "aurelius-agent", jti: "jti-audit-1", authorization_details: [detail] });
    const client = await connect(token);
    await client.callTool({ name: "get_market_price", arguments: { symbol: "NVDA" } });
    expect((await listAudit(broker.db, 1))[0]).toMatchObject({ tool: "get_market_price", decision: "allowed", reason: "ok", sub: "alice" });

    const trade = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: orderId } });
    expect(trade.isError).toBeFalsy();
    const [record] = await listAudit(broker.db, 1);
    expect(record).toMatchObject({ tool: "buy_stock", decision: "allowed", sub: "alice", actorChain: act, jti: "jti-audit-1", orderId, bindingRule: "rar", clientId: "aurelius-agent" });
    expect((await broker.activity.list(1))[0]).toMatchObject({ kind: "mcp.trade", level: "success" });
    await client.close();
  });

  it("never stores a token", async () => {
    const everything = JSON.stringify([await listAudit(broker.db, 1000), await broker.activity.list(1000)]);
    expect(tokens.length).toBeGreaterThan(2);
    for (const token of tokens) expect(everything).not.toContain(token.split(".")[2]);
  });
});
