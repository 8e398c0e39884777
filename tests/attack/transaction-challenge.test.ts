import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, startAppWithTestIssuer } from "../helpers/app-server";
import { asInvestor } from "../helpers/investor-session";
import { AGENT_CLAIMS, type TestIssuer } from "../helpers/jwks-server";

/**
 * The transaction challenge at /mcp over real HTTP, against the built app (tokens from a per-run
 * test issuer): a trade whose token approves no order is answered 403 insufficient_authorization
 * naming the order the broker froze, bound to the investor and the party that asked; only a token
 * for exactly that order, from that party, trades, and only once.
 */

let issuer: TestIssuer;
let appUrl: string;
let mcpUrl: string;
let metadataUrl: string;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  let app;
  // A second investor: the agent's client acts for both, and the limits are counted per investor.
  ({ issuer, app, mcpUrl, metadataUrl, stop } = await startAppWithTestIssuer({ INVESTORS: "bob:Bob:bob@example.com" }));
  appUrl = app.url;
});

afterAll(async () => {
  await stop?.();
});

const call = (name: string, args: unknown, id: number | string = 1) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });

function post(body: unknown, token: string): Promise<Response> {
  return fetch(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

/** A code-flow user token of an interactive client: sub alice, azp the client, reading only, no act. */
const userToken = (client: string, extra: JWTPayload = {}) => issuer.mint({ sub: "alice", azp: client, scope: "openid stock:read", ...extra });

/** A token that approves `details` for alice: through the agent (act) or a client (azp, no act). */
const approvalToken = (details: unknown[], by: { actor?: string; client?: string } = { actor: "aurelius" }, extra: JWTPayload = {}) =>
  issuer.mint({
    sub: "alice",
    ...(by.actor ? { act: { sub: by.actor }, client_id: "aurelius-agent" } : { azp: by.client }),
    scope: "openid stock:read stock:trade",
    authorization_details: details,
    ...extra,
  });

function param(header: string, name: string): string | undefined {
  return new RegExp(`(?:^Bearer\\s+|,\\s*)${name}="([^"]*)"`).exec(header)?.[1];
}

type Order = { type: string; order_id: string; symbol: string; side: string; quantity: number; limit_price: string; max_notional: string; expires_at: string };

/** Calls the tool with `token`, expects the challenge, returns the order it names (checked against the JSON-RPC body too). */
async function challenged(tool: string, args: Record<string, unknown>, token: string): Promise<Order> {
  const res = await post(call(tool, args, 7), token);
  expect(res.status).toBe(403);
  const header = res.headers.get("www-authenticate") ?? "";
  expect(header).toMatch(/^Bearer error="insufficient_authorization", error_description="The (buy|sell)_stock tool requires approval of order ord_[A-Za-z0-9]+", scope="stock:trade", authorization_remediation="[A-Za-z0-9_-]+", resource_metadata="[^"]+"$/);
  expect(param(header, "resource_metadata")).toBe(metadataUrl);
  const remediation = JSON.parse(Buffer.from(param(header, "authorization_remediation")!, "base64url").toString("utf8")) as { authorization_details: Order[] };
  expect(remediation.authorization_details).toHaveLength(1);
  const body = (await res.json()) as { id: unknown; error: { data: { remediationHints: { type: string; authorization_details: unknown }[] } } };
  expect(body.id).toBe(7);
  expect(body.error.data.remediationHints).toEqual([{ type: "oauth_authorization_details", authorization_details: remediation.authorization_details }]);
  return remediation.authorization_details[0]!;
}

async function trade(tool: string, args: Record<string, unknown>, token: string): Promise<{ ok: boolean; text: string }> {
  const res = await post(call(tool, args), token);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { result: { isError?: boolean; content: { text: string }[] } };
  return { ok: !body.result.isError, text: body.result.content[0]?.text ?? "" };
}

async function tradesFor(orderId: string): Promise<unknown[]> {
  const state = (await (await asInvestor(appUrl, "/api/state")).json()) as { trades: { orderId: string }[] };
  return state.trades.filter((t) => t.orderId === orderId);
}

const argsOf = (o: Order) => ({ symbol: o.symbol, quantity: o.quantity, order_id: o.order_id });

describe("the transaction challenge", () => {
  it("the agent's own token: 403 naming an order of the broker's, frozen from the call (its order_id ignored)", async () => {
    const guessed = "ord_ATTACKERchosenID1234";
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 2, order_id: guessed, limit_price: "1000.00" }, await issuer.mint(AGENT_CLAIMS));
    expect(o).toMatchObject({ type: "stock_trade", symbol: "NVDA", side: "buy", quantity: 2, limit_price: "1000.00", max_notional: "2000.00" });
    expect(o.order_id).toMatch(/^ord_[A-Za-z0-9]{24}$/);
    expect(o.order_id).not.toBe(guessed);
    expect(Object.keys(o).sort()).toEqual(["expires_at", "limit_price", "max_notional", "order_id", "quantity", "side", "symbol", "type"]);
    expect(new Date(o.expires_at).getTime()).toBeGreaterThan(Date.now());
  });

  it("without a limit the broker names the current price plus the tolerance; sell_stock names a sale", async () => {
    const token = await issuer.mint(AGENT_CLAIMS);
    const buy = await challenged("buy_stock", { symbol: "NVDA", quantity: 1 }, token);
    const sell = await challenged("sell_stock", { symbol: "NVDA", quantity: 1 }, token);
    expect(sell.side).toBe("sell");
    expect(Number(sell.limit_price)).toBeLessThan(Number(buy.limit_price));
  });

  it("an interactive client's user token is challenged the same way", async () => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1000.00" }, await userToken("client-A"));
    expect(o).toMatchObject({ side: "buy", quantity: 1, limit_price: "1000.00" });
  });

  it("arguments that name no valid order are not frozen: the SDK's insufficient_scope answers", async () => {
    const res = await post(call("buy_stock", { symbol: "NVDA", quantity: 0 }), await issuer.mint(AGENT_CLAIMS));
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope"/);
  });

  it("a 2026-07-28 SDK client gets the challenge as an error, and nothing trades", async () => {
    const client = new Client({ name: "txn-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${await issuer.mint(AGENT_CLAIMS)}` } } }));
    await expect(client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1 } })).rejects.toThrow();
    await client.close();
  });
});

describe("a token for the challenged order", () => {
  it("trades exactly once: the approval for the broker's order, through the agent that asked; replay refused", async () => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 2, limit_price: "1000.00" }, await issuer.mint(AGENT_CLAIMS));
    const token = await approvalToken([o]);
    const first = await trade("buy_stock", argsOf(o), token);
    expect(first).toMatchObject({ ok: true });
    const replay = await trade("buy_stock", argsOf(o), token);
    expect(replay.text).toMatch(/^Refused \(already_executed\)/);
    const again = await trade("buy_stock", argsOf(o), await approvalToken([o]));
    expect(again.text).toMatch(/^Refused \(already_executed\)/);
    expect(await tradesFor(o.order_id)).toHaveLength(1);
  });

  it("two concurrent calls with the approval: one trade", async () => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1000.00" }, await issuer.mint(AGENT_CLAIMS));
    const token = await approvalToken([o]);
    const results = await Promise.all([trade("buy_stock", argsOf(o), token), trade("buy_stock", argsOf(o), token), trade("buy_stock", argsOf(o), token)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await tradesFor(o.order_id)).toHaveLength(1);
  });

  it.each([
    ["a larger quantity", (o: Order) => ({ ...o, quantity: 3 }), "order_mismatch"],
    ["a smaller quantity", (o: Order) => ({ ...o, quantity: 1 }), "order_mismatch"],
    ["a higher limit", (o: Order) => ({ ...o, limit_price: "1001.00" }), "order_mismatch"],
    ["a larger maximum", (o: Order) => ({ ...o, max_notional: "2001.00" }), "order_mismatch"],
    ["a later expiry", (o: Order) => ({ ...o, expires_at: new Date(Date.parse(o.expires_at) + 60_000).toISOString() }), "order_mismatch"],
    ["another symbol", (o: Order) => ({ ...o, symbol: "TSLA" }), "symbol_mismatch"],
    ["a sale", (o: Order) => ({ ...o, side: "sell" }), "side_mismatch"],
  ])("an approval of the broker's order id with %s: refused (%s), no trade", async (_name, change, code) => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 2, limit_price: "1000.00" }, await issuer.mint(AGENT_CLAIMS));
    const result = await trade("buy_stock", { symbol: "NVDA", quantity: 1, order_id: o.order_id }, await approvalToken([change(o)]));
    expect(result.text).toMatch(new RegExp(`^Refused \\(${code}\\)`));
    expect(await tradesFor(o.order_id)).toEqual([]);
  });

  it("a sale approved as a sale for a challenged purchase: refused (order_mismatch)", async () => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1.00" }, await issuer.mint(AGENT_CLAIMS));
    const result = await trade("sell_stock", argsOf(o), await approvalToken([{ ...o, side: "sell", max_notional: "100000.00" }]));
    expect(result.text).toMatch(/^Refused \(order_mismatch\)/);
    expect(await tradesFor(o.order_id)).toEqual([]);
  });

  it("an order frozen for client A, approved through client B: refused, no trade; through A it trades", async () => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1000.00" }, await userToken("client-A"));
    const viaB = await trade("buy_stock", argsOf(o), await approvalToken([o], { client: "client-B" }));
    expect(viaB.text).toMatch(/^Refused \(order_not_approved\): Order ord_\w+ was frozen for another client/);
    const viaAgent = await trade("buy_stock", argsOf(o), await approvalToken([o], { actor: "aurelius" }));
    expect(viaAgent.text).toMatch(/^Refused \(order_not_approved\)/);
    expect(await tradesFor(o.order_id)).toEqual([]);
    const viaA = await trade("buy_stock", argsOf(o), await approvalToken([o], { client: "client-A" }));
    expect(viaA).toMatchObject({ ok: true });
    expect(await tradesFor(o.order_id)).toHaveLength(1);
  });

  it("an order frozen for alice, approved by another user: refused", async () => {
    const o = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1000.00" }, await issuer.mint(AGENT_CLAIMS));
    const result = await trade("buy_stock", argsOf(o), await approvalToken([o], { actor: "aurelius" }, { sub: "mallory" }));
    expect(result.text).toMatch(/^Refused \(order_not_approved\): Order ord_\w+ was not frozen for this user/);
    expect(await tradesFor(o.order_id)).toEqual([]);
  });

  it("another agent's order cannot be taken over by an agent token asking again: each challenge names a new order", async () => {
    const token = await issuer.mint(AGENT_CLAIMS);
    const a = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1000.00" }, token);
    const b = await challenged("buy_stock", { symbol: "NVDA", quantity: 1, limit_price: "1000.00", order_id: a.order_id }, token);
    expect(b.order_id).not.toBe(a.order_id);
  });
});

describe("limits", () => {
  it("a requester freezing orders in a loop is slowed down: 429 with Retry-After, nothing frozen", async () => {
    const token = await issuer.mint({ ...AGENT_CLAIMS, sub: "busy-agent", client_id: "busy-agent" });
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await post(call("buy_stock", { symbol: "NVDA", quantity: 1 }), token)).status);
    expect(statuses.slice(0, 20).every((s) => s === 403)).toBe(true);
    const res = await post(call("buy_stock", { symbol: "NVDA", quantity: 1 }), token);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("60");
    expect(res.headers.get("www-authenticate")).toBeNull();
  });

  it("counts per investor: an agent that acts for many is not slowed for Bob by Alice's orders", async () => {
    const token = await issuer.mint({ ...AGENT_CLAIMS, sub: "many-investors-agent", client_id: "many-investors-agent" });
    for (let i = 0; i < 20; i++) expect((await post(call("buy_stock", { symbol: "NVDA", quantity: 1 }), token)).status).toBe(403);
    expect((await post(call("buy_stock", { symbol: "NVDA", quantity: 1 }), token)).status).toBe(429);
    const forBob = await post(call("buy_stock", { symbol: "NVDA", quantity: 1, investor: "bob" }), token);
    expect(forBob.status).toBe(403);
    expect(forBob.headers.get("www-authenticate")).toMatch(/error="insufficient_authorization"/);
    // An investor nobody configured is no way around the limit: no order is frozen for her, the
    // call only meets the tool's own scope check.
    const forMallory = await post(call("buy_stock", { symbol: "NVDA", quantity: 1, investor: "mallory" }), token);
    expect(forMallory.headers.get("www-authenticate") ?? "").not.toMatch(/insufficient_authorization/);
  });
});
