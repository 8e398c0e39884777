import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dashboardOf } from "../helpers/agent-app";
import { MCP_ACCEPT, startApp, type AppServer } from "../helpers/app-server";
import { authorizeAsAlice, MemoryOAuthProvider } from "../helpers/mcp-oauth-client";

/**
 * Standard MCP clients connect by OAuth: the v1 `@modelcontextprotocol/sdk` client and the v2
 * `@modelcontextprotocol/client`, each with its own transport's auth flow against the built app:
 * 401 → protected-resource metadata → authorization server metadata → dynamic registration →
 * authorization code + PKCE with `resource` → Alice signs in and allows reading on the consent
 * screen (over HTTP) → code exchange → tools. They read the price and her portfolio; a trade is
 * refused with 403 insufficient_scope and nothing is traded.
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

type AnyClient = {
  connect(t: unknown): Promise<void>;
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
};
const flavours = {
  v1: { client: () => new ClientV1({ name: "test-host-v1", version: "1.0.0" }) as unknown as AnyClient, transport: (p: MemoryOAuthProvider) => new TransportV1(mcpUrl, { authProvider: p as never }) },
  v2: { client: () => new ClientV2({ name: "test-host-v2", version: "1.0.0" }) as unknown as AnyClient, transport: (p: MemoryOAuthProvider) => new TransportV2(mcpUrl, { authProvider: p as never }) },
};

describe.each(["v1", "v2"] as const)("the %s MCP SDK client", (flavour) => {
  const provider = new MemoryOAuthProvider(`Test host ${flavour}`);
  let client: AnyClient;

  it("registers, sends Alice to sign in and consent, and gets a reading token for /mcp", async () => {
    const first = flavours[flavour].transport(provider);
    await expect(flavours[flavour].client().connect(first)).rejects.toThrow(/unauthori[sz]ed/i);
    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.toString()).toMatch(new RegExp(`^${app.url}/oidc/auth\\?`));
    expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorizationUrl.searchParams.get("resource")).toBe(mcpUrl.toString());
    // The challenge's scope; the v2 client adds offline_access when the server offers it (for a refresh token).
    expect(authorizationUrl.searchParams.get("scope")?.split(" ").sort()).toEqual(flavour === "v2" ? ["offline_access", "stock:read"] : ["stock:read"]);
    expect(provider.clientId).toMatch(/^[\w-]{20,}$/);

    const run = await authorizeAsAlice(app.url, authorizationUrl);
    expect(run.consentHtml).toContain(`Test host ${flavour}`);
    expect(run.consentHtml).toContain(mcpUrl.toString());
    expect(run.callback.origin + run.callback.pathname).toBe("http://127.0.0.1:49152/callback");
    expect(run.callback.searchParams.get("state")).toBe(provider.stateValue);
    expect(run.callback.searchParams.get("iss")).toBe(`${app.url}/oidc`);
    const code = run.callback.searchParams.get("code")!;
    await (first as unknown as { finishAuth(code: string, iss?: string): Promise<void> }).finishAuth(code, run.callback.searchParams.get("iss")!);

    const claims = decodeJwt(provider.accessToken!);
    expect(claims).toMatchObject({ sub: aliceSub, aud: mcpUrl.toString(), client_id: provider.clientId, scope: "stock:read", iss: `${app.url}/oidc` });
    expect(claims.act).toBeUndefined();
    expect(provider.refreshToken).toEqual(expect.any(String));

    client = flavours[flavour].client();
    await client.connect(flavours[flavour].transport(provider));
  });

  it("lists the tools and reads the price and Alice's portfolio", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["buy_stock", "get_market_price", "get_portfolio", "get_trade_history", "list_symbols", "sell_stock"]);
    const price = (await client.callTool({ name: "get_market_price", arguments: { symbol: "NVDA" } })) as { structuredContent: { symbol: string; price: string } };
    expect(price.structuredContent).toMatchObject({ symbol: "NVDA", price: expect.stringMatching(/^\d+\.\d\d$/) });
    const portfolio = (await client.callTool({ name: "get_portfolio", arguments: {} })) as { structuredContent: { user: string } };
    expect(portfolio.structuredContent.user).toBe(aliceSub);
    const history = (await client.callTool({ name: "get_trade_history", arguments: {} })) as { structuredContent: { user: string } };
    expect(history.structuredContent.user).toBe(aliceSub);
  });

  it("is refused a trade: 403 insufficient_authorization naming stock:trade and the order to approve, and nothing is traded", async () => {
    const before = (await dashboardOf(app.url)).trades.length;
    await expect(
      client.callTool({ name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: "ord_0123456789abcdef0123" } }),
    ).rejects.toThrow();
    const res = await fetch(mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${provider.accessToken}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "sell_stock", arguments: { symbol: "NVDA", quantity: 1, order_id: "ord_0123456789abcdef0123" } } }),
    });
    expect(res.status).toBe(403);
    const header = res.headers.get("www-authenticate") ?? "";
    expect(header).toMatch(/^Bearer error="insufficient_authorization", .*scope="stock:trade", authorization_remediation="[A-Za-z0-9_-]+"/);
    const remediation = JSON.parse(Buffer.from(/authorization_remediation="([^"]+)"/.exec(header)![1]!, "base64url").toString("utf8"));
    expect(remediation.authorization_details).toEqual([expect.objectContaining({ type: "stock_trade", symbol: "NVDA", side: "sell", quantity: 1 })]);
    expect(remediation.authorization_details[0].order_id).not.toBe("ord_0123456789abcdef0123");
    expect((await dashboardOf(app.url)).trades.length).toBe(before);
    await client.close();
  });
});

describe("the authorization server's metadata for MCP clients", () => {
  it("is served at the RFC 8414 path-inserted URL with registration, CIMD, PKCE S256 and iss", async () => {
    const res = await fetch(`${app.url}/.well-known/oauth-authorization-server/oidc`);
    expect(res.status).toBe(200);
    const meta = (await res.json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      issuer: `${app.url}/oidc`,
      registration_endpoint: `${app.url}/oidc/reg`,
      client_id_metadata_document_supported: true,
      code_challenge_methods_supported: ["S256"],
      response_types_supported: ["code"],
      authorization_response_iss_parameter_supported: true,
    });
    expect(meta.token_endpoint_auth_methods_supported).toContain("none");
  });

  it("the 401 at /mcp names scope=\"stock:read\" and the resource metadata", async () => {
    const res = await fetch(mcpUrl, { method: "POST", headers: { "content-type": "application/json", accept: MCP_ACCEPT }, body: "{}" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer scope="stock:read", resource_metadata="${app.url}/.well-known/oauth-protected-resource/mcp"`);
  });
});
