import { asInvestor } from "../helpers/investor-session";
import type { JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, startAppWithTestIssuer, type AppServer } from "../helpers/app-server";
import { AGENT_CLAIMS, type TestIssuer } from "../helpers/jwks-server";
import { order as stockTrade } from "../integration/idp-support";

/**
 * The MCP transport headers at /mcp over real HTTP, against the built app:
 * - an `MCP-Protocol-Version` the server does not support is a 400 (MCP Streamable HTTP,
 *   "Protocol Version Header"), and the call it came with does not run;
 * - `Mcp-Session-Id` is not authentication (MCP security best practices): with no token or a
 *   forged one the answer is 401 with the RFC 6750 challenge, whatever session id is sent.
 * Nothing of this changes the ledger.
 */
let issuer: TestIssuer;
let app: AppServer;
let mcpUrl: string;
let metadataUrl: string;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ issuer, app, mcpUrl, metadataUrl, stop } = await startAppWithTestIssuer());
});

afterAll(async () => {
  await stop?.();
});

/** An order the market price always meets. */
const order = () => stockTrade({ quantity: 2, limit_price: "9999.00", max_notional: "99999.00", expires_at: new Date(Date.now() + 5 * 60_000).toISOString() });

const obo = (detail: ReturnType<typeof order>, extra: JWTPayload = {}) =>
  issuer.mint({ sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", client_id: "aurelius-agent", authorization_details: [detail], ...extra });

const buyCall = (detail: ReturnType<typeof order>) => ({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "buy_stock", arguments: { symbol: detail.symbol, quantity: detail.quantity, order_id: detail.order_id } },
});

function send(method: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  return fetch(mcpUrl, {
    method,
    headers: { accept: MCP_ACCEPT, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function ledger() {
  const state = (await (await asInvestor(app.url, "/api/state")).json()) as { trades: unknown[]; portfolio: { cashCents: number; holdings: unknown[] } };
  return { trades: state.trades, cashCents: state.portfolio.cashCents, holdings: state.portfolio.holdings.map((h) => (h as { quantity: number }).quantity) };
}

describe("MCP-Protocol-Version", () => {
  it.each(["1999-01-01", "2025-01-01", "2099-12-31", "not-a-version"])("%s: 400, and the trade it came with does not run", async (version) => {
    const before = await ledger();
    const detail = order();
    const res = await send("POST", { authorization: `Bearer ${await obo(detail)}`, "mcp-protocol-version": version }, buyCall(detail));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { jsonrpc: string; error: { code: number; message: string } };
    expect(body.jsonrpc).toBe("2.0");
    expect(body.error.message).toMatch(/protocol.version/i);
    expect(await ledger()).toEqual(before);
  });

  it("a supported version with the same kind of call is served (the 400 is the header's)", async () => {
    const res = await send(
      "POST",
      { authorization: `Bearer ${await issuer.mint(AGENT_CLAIMS)}`, "mcp-protocol-version": "2025-11-25" },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: "NVDA" } } },
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: { isError?: boolean } }).result.isError).toBeFalsy();
  });
});

describe("Mcp-Session-Id is not authentication", () => {
  const sessionIds = ["3f2c1d9e-8b7a-4c6d-9e0f-1a2b3c4d5e6f", "x".repeat(200)];

  it.each(["POST", "GET", "DELETE"])("%s with a session id and no token: 401 with resource_metadata and no error code", async (method) => {
    const before = await ledger();
    for (const sessionId of sessionIds) {
      const detail = order();
      const res = await send(method, { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" }, method === "POST" ? buyCall(detail) : undefined);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(`Bearer scope="stock:read", resource_metadata="${metadataUrl}"`);
    }
    expect(await ledger()).toEqual(before);
  });

  it.each<[string, (detail: ReturnType<typeof order>) => Promise<string> | string]>([
    ["signed by a foreign key", (detail) => issuer.mintWithForeignKey({ sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", authorization_details: [detail] })],
    ["tampered after signing", async (detail) => issuer.tamper(await issuer.mint(AGENT_CLAIMS), { sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", authorization_details: [detail] })],
    ["unsigned (alg none)", (detail) => issuer.mintUnsigned({ act: { sub: "aurelius" }, authorization_details: [detail] })],
  ])("a session id with a token %s: 401 invalid_token, no trade", async (_label, forge) => {
    const before = await ledger();
    for (const sessionId of sessionIds) {
      const detail = order();
      const res = await send("POST", { authorization: `Bearer ${await forge(detail)}`, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" }, buyCall(detail));
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="/);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_token");
    }
    expect(await ledger()).toEqual(before);
  });
});
