import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dashboardOf } from "../helpers/agent-app";
import { MCP_ACCEPT, startApp, type AppServer } from "../helpers/app-server";
import { authorizeAsAlice, MemoryOAuthProvider } from "../helpers/mcp-oauth-client";

/**
 * Standard MCP clients complete the transaction challenge: the v1 `@modelcontextprotocol/sdk`
 * client and the v2 `@modelcontextprotocol/client`, each signed in for reading (dynamic
 * registration, code + PKCE, Alice's consent), call buy_stock and get 403
 * insufficient_authorization naming the order the broker froze; the host puts those
 * `authorization_details` unchanged into its next authorization request (the SDK's own auth flow,
 * the provider adding the parameter as it sends Alice to the server), Alice sees the exact order
 * on the consent screen and approves, and the token (sub Alice, azp the client, no act, the order,
 * stock:trade) trades once. Attacks first: another client's order, a changed order, a denied
 * consent, a replayed token.
 */
let app: AppServer;
let mcpUrl: URL;
let aliceSub: string;

beforeAll(async () => {
  app = await startApp({ AGENT_ENABLED: "false" });
  mcpUrl = new URL(`${app.url}/mcp`);
  aliceSub = (await dashboardOf(app.url)).portfolio!.userSub;
});
afterAll(async () => app?.stop());

/** A host that, once challenged, asks for the order the resource server named, unchanged. */
class ChallengedHost extends MemoryOAuthProvider {
  authorizationDetails: unknown[] | undefined;
  override redirectToAuthorization(url: URL) {
    if (this.authorizationDetails) url.searchParams.set("authorization_details", JSON.stringify(this.authorizationDetails));
    super.redirectToAuthorization(url);
  }
}

type AnyClient = { connect(t: unknown): Promise<void>; callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown>; close(): Promise<void> };
type AnyTransport = { finishAuth(code: string, iss?: string): Promise<void> };
const flavours = {
  v1: { client: () => new ClientV1({ name: "txn-host-v1", version: "1.0.0" }) as unknown as AnyClient, transport: (p: MemoryOAuthProvider) => new TransportV1(mcpUrl, { authProvider: p as never }) },
  v2: { client: () => new ClientV2({ name: "txn-host-v2", version: "1.0.0" }) as unknown as AnyClient, transport: (p: MemoryOAuthProvider) => new TransportV2(mcpUrl, { authProvider: p as never }) },
};

type Order = { type: string; order_id: string; symbol: string; side: string; quantity: number; limit_price: string; max_notional: string; expires_at: string };

/** Signs the host in for reading through its SDK's auth flow (Alice allows on the consent screen). */
async function signIn(flavour: "v1" | "v2", host: ChallengedHost): Promise<void> {
  const transport = flavours[flavour].transport(host);
  await expect(flavours[flavour].client().connect(transport)).rejects.toThrow(/unauthori[sz]ed/i);
  const run = await authorizeAsAlice(app.url, host.authorizationUrl!);
  await (transport as unknown as AnyTransport).finishAuth(run.callback.searchParams.get("code")!, run.callback.searchParams.get("iss")!);
}

/** buy_stock with the host's current token, as raw HTTP: the challenge's order. */
async function challenge(token: string, args: Record<string, unknown> = { symbol: "NVDA", quantity: 1 }): Promise<Order> {
  const res = await fetch(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "buy_stock", arguments: args } }),
  });
  expect(res.status).toBe(403);
  const header = res.headers.get("www-authenticate") ?? "";
  expect(header).toMatch(/^Bearer error="insufficient_authorization", .*scope="stock:trade", authorization_remediation="/);
  const encoded = /authorization_remediation="([^"]+)"/.exec(header)![1]!;
  return (JSON.parse(Buffer.from(encoded, "base64url").toString("utf8")) as { authorization_details: Order[] }).authorization_details[0]!;
}

/** The authorization request the host's SDK builds, with `details`: where the server sends the browser first. */
async function authorizeWith(host: ChallengedHost, details: unknown[]): Promise<URL> {
  const url = new URL(host.authorizationUrl!);
  url.searchParams.set("authorization_details", JSON.stringify(details));
  const res = await fetch(url, { redirect: "manual" });
  return new URL(res.headers.get("location")!, url);
}

async function tradesFor(orderId: string) {
  return (await dashboardOf(app.url)).trades.filter((t) => t.orderId === orderId);
}

describe("attacks on the interactive approval of an order", () => {
  const hostA = new ChallengedHost("Txn host A");
  const hostB = new ChallengedHost("Txn host B");
  let order: Order;

  it("sets up two signed-in hosts; host A is challenged for an order", async () => {
    await signIn("v2", hostA);
    await signIn("v2", hostB);
    order = await challenge(hostA.accessToken!);
    expect(order).toMatchObject({ type: "stock_trade", symbol: "NVDA", side: "buy", quantity: 1 });
  });

  it.each([
    ["host A's order, asked for by host B", () => hostB, () => [order], /named for another client/],
    ["a larger quantity", () => hostA, () => [{ ...order, quantity: 2 }], /differs from the order the resource server named/],
    ["a sale instead of a purchase", () => hostA, () => [{ ...order, side: "sell" }], /differs from the order/],
    ["another symbol", () => hostA, () => [{ ...order, symbol: "TSLA" }], /differs from the order/],
    ["a higher limit", () => hostA, () => [{ ...order, limit_price: "99999.00" }], /differs from the order/],
    ["an order the server never named", () => hostA, () => [{ ...order, order_id: "ord_NEVERnamedBYtheSERVER1" }], /not named by the resource server/],
    ["an expired order", () => hostA, () => [{ ...order, expires_at: "2020-01-01T00:00:00Z" }], /expires_at is in the past/],
    ["a standing mandate", () => hostA, () => [{ type: "stock_trade_mandate", mandate_id: "mnd_0123456789abcdef0123", symbol: "NVDA", max_per_trade: "100.00", max_per_day: "100.00", expires_at: "2030-01-01T00:00:00Z" }], /type 'stock_trade_mandate' is not allowed for this client/],
  ])("%s: refused at the authorization endpoint with invalid_authorization_details, no sign-in, no trade", async (_name, host, details, why) => {
    const back = await authorizeWith(host(), details());
    expect(back.origin + back.pathname).toBe("http://127.0.0.1:49152/callback");
    expect(back.searchParams.get("error")).toBe("invalid_authorization_details");
    expect(back.searchParams.get("error_description")).toMatch(why);
    expect(back.searchParams.get("code")).toBeNull();
    expect(await tradesFor(order.order_id)).toEqual([]);
  });

  it("Alice denies the order on the consent screen: access_denied, no token, no trade", async () => {
    const url = new URL(hostA.authorizationUrl!);
    url.searchParams.set("authorization_details", JSON.stringify([order]));
    const run = await authorizeAsAlice(app.url, url, "deny");
    expect(run.consentHtml).toContain(order.order_id);
    expect(run.callback.searchParams.get("error")).toBe("access_denied");
    expect(run.callback.searchParams.get("code")).toBeNull();
    expect(await tradesFor(order.order_id)).toEqual([]);
  });
});

describe.each(["v1", "v2"] as const)("the %s MCP SDK client completes the transaction challenge", (flavour) => {
  const host = new ChallengedHost(`Txn host ${flavour}`);
  let order: Order;
  let tradeToken: string;

  it("signs in for reading and is challenged: 403 naming the order the broker froze", async () => {
    await signIn(flavour, host);
    const client = flavours[flavour].client();
    await client.connect(flavours[flavour].transport(host));
    await expect(client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1 } })).rejects.toThrow();
    await client.close();
    order = await challenge(host.accessToken!, { symbol: "NVDA", quantity: 1, limit_price: "100000.00" });
    expect(order).toMatchObject({ symbol: "NVDA", side: "buy", quantity: 1, limit_price: "100000.00", max_notional: "100000.00" });
  });

  it("re-authorizes with those authorization_details; Alice reads the exact order and approves; the token carries it", async () => {
    host.authorizationDetails = [order];
    host.invalidateCredentials("tokens");
    const transport = flavours[flavour].transport(host);
    await expect(flavours[flavour].client().connect(transport)).rejects.toThrow(/unauthori[sz]ed/i);
    expect(JSON.parse(host.authorizationUrl!.searchParams.get("authorization_details")!)).toEqual([order]);
    const run = await authorizeAsAlice(app.url, host.authorizationUrl!);
    for (const words of ["Buy 1 NVDA", "1 share", "100,000.00 USD per share", order.order_id, "Approve: buy 1 NVDA"]) expect(run.consentHtml).toContain(words);
    await (transport as unknown as AnyTransport).finishAuth(run.callback.searchParams.get("code")!, run.callback.searchParams.get("iss")!);
    tradeToken = host.accessToken!;
    const claims = decodeJwt(tradeToken);
    expect(claims).toMatchObject({ sub: aliceSub, client_id: host.clientId, aud: mcpUrl.toString(), authorization_details: [order] });
    expect(String(claims.scope).split(" ").sort()).toEqual(["stock:read", "stock:trade"]);
    expect(claims.act).toBeUndefined();
    // One order, one use: no refresh token comes with its approval.
    expect(host.refreshToken).toBeUndefined();
  });

  it("trades once with it; the replayed token is refused", async () => {
    const client = flavours[flavour].client();
    await client.connect(flavours[flavour].transport(host));
    const result = (await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: order.order_id } })) as { isError?: boolean; structuredContent: Record<string, unknown> };
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: "executed", symbol: "NVDA", quantity: 1 });
    const replay = (await client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: order.order_id } })) as { isError?: boolean; content: { text: string }[] };
    expect(replay.isError).toBe(true);
    expect(replay.content[0]!.text).toMatch(/^Refused \(already_executed\)/);
    await client.close();
    const trades = await tradesFor(order.order_id);
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({ userSub: aliceSub, actorSub: host.clientId, clientId: host.clientId, bindingRule: "rar" });
  });

  it("the traded order cannot be approved again", async () => {
    const back = await authorizeWith(host, [order]);
    expect(back.searchParams.get("error")).toBe("invalid_authorization_details");
    expect(back.searchParams.get("error_description")).toMatch(/already been executed/);
  });
});
