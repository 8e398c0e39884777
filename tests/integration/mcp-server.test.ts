import { asInvestor } from "../helpers/investor-session";
import { randomBytes } from "node:crypto";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, startAppWithTestIssuer, type AppServer } from "../helpers/app-server";
import { AGENT_CLAIMS, type TestIssuer } from "../helpers/jwks-server";

/**
 * The MCP server at /mcp over real HTTP, against the built app: every authentication refusal with
 * its exact status and challenge, the tools with agent and on-behalf-of tokens, order binding,
 * replay and concurrency. Tokens come from a per-run key whose JWKS a loopback server publishes.
 */

let issuer: TestIssuer;
let app: AppServer;
let mcpUrl: string;
let metadataUrl: string;
let stop: (() => Promise<void>) | undefined;
const usedTokens: string[] = [];

beforeAll(async () => {
  ({ issuer, app, mcpUrl, metadataUrl, stop } = await startAppWithTestIssuer());
});

afterAll(async () => {
  await stop?.();
});

async function mint(claims: JWTPayload, options?: Parameters<TestIssuer["mint"]>[1]): Promise<string> {
  const token = await issuer.mint(claims, options);
  usedTokens.push(token);
  return token;
}

const newOrderId = () => `ord_${randomBytes(12).toString("hex")}`;

function order(patch: Record<string, unknown> = {}) {
  return {
    type: "stock_trade",
    order_id: newOrderId(),
    symbol: "NVDA",
    side: "buy",
    quantity: 2,
    limit_price: "1000.00",
    max_notional: "5000.00",
    expires_at: new Date(Date.now() + 5 * 60_000).toISOString(),
    ...patch,
  };
}

const obo = (details: unknown[], extra: JWTPayload = {}) =>
  mint({
    sub: "alice",
    act: { sub: "aurelius" },
    scope: "openid stock:read stock:trade",
    client_id: "aurelius-agent",
    authorization_details: details,
    ...extra,
  });

function post(body: unknown, token?: string, headers: Record<string, string> = {}, url = mcpUrl): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: MCP_ACCEPT,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const call = (name: string, args: unknown, id: number | string = 1) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });

async function connect(token: string, modern = false): Promise<Client> {
  const client = new Client(
    { name: "mcp-integration-test", version: "1.0.0" },
    modern ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {},
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

function toolText(result: unknown): string {
  return (result as { content: { text: string }[] }).content[0]?.text ?? "";
}

async function ledger(): Promise<{ trades: { id: number; userSub: string; actorSub: string; orderId: string; bindingRule: string; quantity: number }[]; cashCents: number }> {
  const state = (await (await asInvestor(app.url, "/api/state")).json()) as { trades: never[]; portfolio: { cashCents: number } };
  return { trades: state.trades, cashCents: state.portfolio.cashCents };
}

const invalidTokenChallenge = () => new RegExp(`^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${metadataUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`);

describe("protected resource metadata (RFC 9728)", () => {
  it.each(["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"])("GET %s", async (path) => {
    const res = await fetch(`${app.url}${path}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      resource: mcpUrl,
      authorization_servers: [issuer.issuer],
      scopes_supported: ["openid", "stock:read", "stock:trade"],
      bearer_methods_supported: ["header"],
      authorization_details_types_supported: ["stock_trade", "stock_trade_mandate"],
    });
  });
});

describe("authentication refusals", () => {
  it("no token: 401 with resource_metadata and no error code", async () => {
    const res = await post(call("get_market_price", { symbol: "NVDA" }));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer scope="stock:read", resource_metadata="${metadataUrl}"`);
  });

  it("another scheme (Basic): 401 with no error code", async () => {
    const res = await post(call("get_market_price", { symbol: "NVDA" }), undefined, { authorization: "Basic YWxpY2U6c2VjcmV0" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer scope="stock:read", resource_metadata="${metadataUrl}"`);
  });

  it.each<[string, () => Promise<string> | string]>([
    ["garbage", () => "abc.def.ghi"],
    ["expired", () => mint(AGENT_CLAIMS, { expiresIn: -60 })],
    ["wrong issuer", () => mint(AGENT_CLAIMS, { issuer: "https://evil.example/" })],
    ["wrong audience", () => mint(AGENT_CLAIMS, { audience: "https://other.example/mcp" })],
    ["alg none", () => issuer.mintUnsigned()],
    ["HS256 with the public key", () => issuer.mintHs256WithPublicKey()],
    ["tampered", async () => issuer.tamper(await mint(AGENT_CLAIMS), { scope: "openid stock:read stock:trade" })],
    ["foreign key", () => issuer.mintWithForeignKey(AGENT_CLAIMS)],
  ])("%s token: 401 invalid_token", async (_name, make) => {
    const res = await post(call("get_market_price", { symbol: "NVDA" }), await make());
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(invalidTokenChallenge());
    expect(((await res.json()) as { error: string }).error).toBe("invalid_token");
  });

  it("token in the query string: 400 invalid_request, even with a valid header token", async () => {
    const token = await mint(AGENT_CLAIMS);
    const res = await post(call("get_market_price", { symbol: "NVDA" }), token, {}, `${mcpUrl}?access_token=${token}`);
    expect(res.status).toBe(400);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_request", error_description="[^"]+", resource_metadata="/);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
  });
});

describe("transport hygiene", () => {
  it("refuses a foreign Origin with 403 and accepts the app's own", async () => {
    const token = await mint(AGENT_CLAIMS);
    expect((await post(call("list_symbols", {}), token, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post(call("list_symbols", {}), token, { origin: "null" })).status).toBe(403);
    expect((await post(call("list_symbols", {}), token, { origin: app.url })).status).toBe(200);
  });

  it("refuses bodies over 64 KiB with 413", async () => {
    const res = await post(call("list_symbols", { pad: "x".repeat(70 * 1024) }), await mint(AGENT_CLAIMS));
    expect(res.status).toBe(413);
  });

  it("answers malformed JSON-RPC with 400", async () => {
    const token = await mint(AGENT_CLAIMS);
    const broken = await post("{not json", token);
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { code: number } }).error.code).toBe(-32700);
    expect((await post([call("list_symbols", {})], token)).status).toBe(400);
    expect((await post({ jsonrpc: "1.0", id: 1, method: "tools/list" }, token)).status).toBe(400);
    expect((await post({ jsonrpc: "2.0", id: { x: 1 }, method: 5 }, token)).status).toBe(400);
  });

  it("answers 415 to a non-JSON body and 405 to GET, DELETE and PUT", async () => {
    const token = await mint(AGENT_CLAIMS);
    expect((await post("x=1", token, { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
    const auth = { authorization: `Bearer ${token}`, accept: MCP_ACCEPT };
    const get = await fetch(mcpUrl, { headers: auth });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await fetch(mcpUrl, { method: "DELETE", headers: auth })).status).toBe(405);
    expect((await fetch(mcpUrl, { method: "PUT", headers: auth, body: "{}" })).status).toBe(405);
  });
});

describe("read tools with the agent's own token", () => {
  it("lists the tools with their annotations", async () => {
    const client = await connect(await mint(AGENT_CLAIMS));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["buy_stock", "get_market_price", "get_portfolio", "get_trade_history", "list_symbols", "sell_stock"]);
    const buy = tools.find((t) => t.name === "buy_stock")!;
    expect(buy.annotations).toMatchObject({ destructiveHint: true, idempotentHint: false });
    // order_id names an approved order; without one the call is answered with the order to approve.
    expect(buy.inputSchema).toMatchObject({ required: ["symbol", "quantity"] });
    expect(Object.keys((buy.inputSchema as { properties: object }).properties).sort()).toEqual(["limit_price", "order_id", "quantity", "symbol"]);
    await client.close();
  });

  it("reads the price and the symbols", async () => {
    const client = await connect(await mint(AGENT_CLAIMS));
    const price = await client.callTool({ name: "get_market_price", arguments: { symbol: "NVDA" } });
    expect(price.isError).toBeFalsy();
    expect(price.structuredContent).toMatchObject({ symbol: "NVDA", currency: "USD", price: expect.stringMatching(/^\d+\.\d{2}$/) });
    expect(["STABLE", "CRASHING", "RECOVERING"]).toContain((price.structuredContent as { status: string }).status);
    const symbols = await client.callTool({ name: "list_symbols", arguments: {} });
    expect(symbols.structuredContent).toMatchObject({ symbols: [{ symbol: "NVDA" }] });
    const unknown = await client.callTool({ name: "get_market_price", arguments: { symbol: "AAPL" } });
    expect(unknown.isError).toBe(true);
    expect(toolText(unknown)).toMatch(/^Refused \(invalid_arguments\)/);
    await client.close();
  });

  it("has no portfolio and no trade history (agent subject)", async () => {
    const client = await connect(await mint(AGENT_CLAIMS));
    for (const name of ["get_portfolio", "get_trade_history"]) {
      const result = await client.callTool({ name, arguments: {} });
      expect(result.isError).toBe(true);
      expect(toolText(result)).toContain("agent_subject");
      expect(toolText(result)).not.toContain("alice");
    }
    await client.close();
  });

  it("buy_stock with the agent token: 403 insufficient_authorization naming the order the broker froze, scope stock:trade", async () => {
    const token = await mint(AGENT_CLAIMS);
    const res = await post(call("buy_stock", { symbol: "NVDA", quantity: 1, order_id: newOrderId() }), token);
    expect(res.status).toBe(403);
    const header = res.headers.get("www-authenticate") ?? "";
    expect(header).toMatch(
      new RegExp(
        `^Bearer error="insufficient_authorization", error_description="The buy_stock tool requires approval of order (ord_[A-Za-z0-9]{24})", scope="stock:trade", authorization_remediation="[A-Za-z0-9_-]+", resource_metadata="${metadataUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`,
      ),
    );
    const client = await connect(token);
    const error = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: newOrderId() } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toMatchObject({ name: "InsufficientScopeError" });
    await client.close();
  });

  it("a token without stock:read: 403 with scope stock:read", async () => {
    const res = await post(call("get_market_price", { symbol: "NVDA" }), await mint({ ...AGENT_CLAIMS, scope: "openid" }));
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope", .*scope="stock:read"/);
  });

  it("an agent token that somehow has stock:trade still cannot trade (agent subject)", async () => {
    const client = await connect(await mint({ ...AGENT_CLAIMS, scope: "openid stock:read stock:trade", authorization_details: [order()] }));
    const result = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: newOrderId() } });
    expect(toolText(result)).toContain("agent_subject");
    await client.close();
  });

  it("works for a 2026-07-28 client too", async () => {
    const token = await mint(AGENT_CLAIMS);
    const client = await connect(token, true);
    const price = await client.callTool({ name: "get_market_price", arguments: { symbol: "NVDA" } });
    expect(price.structuredContent).toMatchObject({ symbol: "NVDA" });
    const error = await client.callTool({ name: "sell_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: newOrderId() } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toMatchObject({ name: "InsufficientScopeError" });
    expect(String(error)).toMatch(/requires approval of order ord_/);
    await client.close();
  });
});

describe("trading on behalf of alice", () => {
  it("executes the approved order, attributed to alice and the agent", async () => {
    const before = await ledger();
    const approved = order({ quantity: 3 });
    const token = await obo([approved]);
    const client = await connect(token);
    const result = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 3, order_id: approved.order_id } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: "executed", user: "alice", actor: "aurelius", order_id: approved.order_id, binding_rule: "rar", quantity: 3 });

    const portfolio = await client.callTool({ name: "get_portfolio", arguments: {} });
    expect(portfolio.structuredContent).toMatchObject({ user: "alice", holdings: [expect.objectContaining({ symbol: "NVDA" })] });
    const history = await client.callTool({ name: "get_trade_history", arguments: { limit: 5 } });
    expect((history.structuredContent as { trades: unknown[] }).trades[0]).toMatchObject({ order_id: approved.order_id, user: "alice", actor: "aurelius" });

    const after = await ledger();
    expect(after.trades.length).toBe(before.trades.length + 1);
    expect(after.trades[0]).toMatchObject({ userSub: "alice", actorSub: "aurelius", orderId: approved.order_id, bindingRule: "rar", quantity: 3 });
    expect(after.cashCents).toBeLessThan(before.cashCents);
    await client.close();
  });

  it("refuses the same token or the same order a second time", async () => {
    const first = order({ quantity: 1 });
    const second = order({ quantity: 1 });
    const token = await obo([first, second]);
    const client = await connect(token);
    const ok = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: first.order_id } });
    expect(ok.isError).toBeFalsy();
    const before = await ledger();

    const sameTokenSameOrder = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: first.order_id } });
    expect(toolText(sameTokenSameOrder)).toMatch(/^Refused \(already_executed\)/);
    const sameTokenOtherOrder = await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: second.order_id } });
    expect(toolText(sameTokenOtherOrder)).toMatch(/^Refused \(already_executed\)/);
    await client.close();

    const fresh = await connect(await obo([first]));
    const newTokenSameOrder = await fresh.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: first.order_id } });
    expect(toolText(newTokenSameOrder)).toMatch(/^Refused \(already_executed\)/);
    await fresh.close();

    expect(await ledger()).toEqual(before);
  });

  it.each<[string, Record<string, unknown>, (o: { order_id: string }) => { tool?: string; args: Record<string, unknown> }, string]>([
    ["another symbol", { symbol: "AAPL" }, (o) => ({ args: { symbol: "NVDA", quantity: 2, order_id: o.order_id } }), "symbol_mismatch"],
    ["more shares", { quantity: 2 }, (o) => ({ args: { symbol: "NVDA", quantity: 3, order_id: o.order_id } }), "quantity_exceeds_approval"],
    ["a price above the limit", { limit_price: "1.00" }, (o) => ({ args: { symbol: "NVDA", quantity: 2, order_id: o.order_id } }), "price_above_limit"],
    ["a notional above the maximum", { max_notional: "1.00" }, (o) => ({ args: { symbol: "NVDA", quantity: 2, order_id: o.order_id } }), "notional_exceeds_max"],
    ["an expired order", { expires_at: new Date(Date.now() - 1000).toISOString() }, (o) => ({ args: { symbol: "NVDA", quantity: 2, order_id: o.order_id } }), "order_expired"],
    ["another order id", {}, () => ({ args: { symbol: "NVDA", quantity: 2, order_id: newOrderId() } }), "order_not_approved"],
    ["the other side", {}, (o) => ({ tool: "sell_stock", args: { symbol: "NVDA", quantity: 2, order_id: o.order_id } }), "side_mismatch"],
  ])("refuses %s and leaves the ledger unchanged", async (_name, patch, request, code) => {
    const before = await ledger();
    const approved = order(patch);
    const client = await connect(await obo([approved]));
    const { tool, args } = request(approved);
    const result = await client.callTool({ name: tool ?? "buy_stock", arguments: args });
    expect(result.isError).toBe(true);
    expect(toolText(result)).toMatch(new RegExp(`^Refused \\(${code}\\)`));
    await client.close();
    expect(await ledger()).toEqual(before);
  });

  it("20 concurrent identical buys with one token execute exactly once", async () => {
    const before = await ledger();
    const approved = order({ quantity: 1 });
    const token = await obo([approved]);
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(call("buy_stock", { symbol: "NVDA", quantity: 1, order_id: approved.order_id }, i + 1), token)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const results = (await Promise.all(responses.map((r) => r.json()))) as { result: { isError?: boolean; content: { text: string }[] } }[];
    const executed = results.filter((r) => !r.result.isError);
    expect(executed).toHaveLength(1);
    expect(results.filter((r) => r.result.content[0]!.text.startsWith("Refused (already_executed)"))).toHaveLength(19);
    const after = await ledger();
    expect(after.trades.length).toBe(before.trades.length + 1);
  });

  it("never writes a token to the server's output", () => {
    expect(usedTokens.length).toBeGreaterThan(10);
    const output = app.output();
    for (const token of usedTokens) expect(output).not.toContain(token.split(".")[2]);
  });
});
