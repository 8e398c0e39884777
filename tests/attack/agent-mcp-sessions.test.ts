import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FetchLike } from "../../lib/auth/app-fetch";
import { AgentMcpClient, type TradeOutcome } from "../../lib/agent/mcp-client";
import type { IdentityServerProfile, TokenResult } from "../../lib/auth/profiles/types";
import type { StockTradeDetail } from "../../lib/orders/order";
import { startEmbeddedWorld, type EmbeddedWorld } from "../helpers/embedded-world";

/**
 * Which token travels through which MCP client. The agent's long-lived reader carries its own
 * token only; the on-behalf-of token for Alice's approved order must never reach it (a client
 * kept with her token would be a standing power to trade). The first trade attempt, with the
 * agent token, needs no client of its own: it goes through the reader and still gets the
 * broker's transaction challenge. Real embedded authorization server, real /mcp endpoint.
 */
interface Sent {
  method: string;
  token: string;
}

let world: EmbeddedWorld;
let profile: IdentityServerProfile;
let agentToken: TokenResult;
let sent: Sent[];
let broker: AgentMcpClient;

beforeAll(async () => {
  world = await startEmbeddedWorld();
  profile = world.profile();
  agentToken = await profile.getAgentToken();
  sent = [];
  const recording: FetchLike = async (input, init) => {
    const headers = new Headers(init?.headers);
    let method = init?.method ?? "GET";
    if (typeof init?.body === "string") method = (JSON.parse(init.body) as { method?: string }).method ?? "response";
    sent.push({ method, token: (headers.get("authorization") ?? "").split(" ")[1] ?? "" });
    return world.mcpFetch(input, init);
  };
  broker = new AgentMcpClient({ url: world.config.mcp.resourceUrl, fetch: recording, readToken: async () => agentToken, onUnauthorized: async () => undefined });
});
afterAll(async () => {
  await broker?.close();
  await world?.stop();
});

const who = (s: Sent) => (s.token === agentToken.accessToken ? "agent" : s.token);

describe("the agent's MCP clients", () => {
  let challenged: StockTradeDetail;

  it("the attempt with the agent token goes over the reader's connection (one handshake in all) and gets the transaction challenge", async () => {
    const quote = await broker.getPrice(world.config.market.symbol);
    expect(quote.priceCents).toBeGreaterThan(0);
    const outcome: TradeOutcome = await broker.trade("buy", { symbol: world.config.market.symbol, quantity: 2, limit_price: "1000.00" }, agentToken);
    expect(outcome).toMatchObject({ kind: "authorization_required", scope: "stock:trade" });
    challenged = (outcome as { authorizationDetails: StockTradeDetail[] }).authorizationDetails[0]!;
    expect(challenged).toMatchObject({ symbol: world.config.market.symbol, side: "buy", quantity: 2, limit_price: "1000.00" });
    // The challenge answered a call and did not break the connection: the next read reuses it.
    await broker.getPrice(world.config.market.symbol);

    // One handshake (initialize, initialized, the GET stream the stateless server declines), then the three calls.
    expect(sent.map((s) => [s.method, who(s)])).toEqual([
      ["initialize", "agent"],
      ["notifications/initialized", "agent"],
      ["GET", "agent"],
      ["tools/call", "agent"],
      ["tools/call", "agent"],
      ["tools/call", "agent"],
    ]);
  });

  it("the on-behalf-of token goes only through a client of its own, made with it, and the reader goes on with the agent token", async () => {
    const obo = await world.pollApproved(profile, await world.approve(profile, challenged, agentToken.accessToken));
    const from = sent.length;
    const outcome = await broker.trade("buy", { symbol: challenged.symbol, quantity: challenged.quantity, order_id: challenged.order_id }, obo);
    expect(outcome).toMatchObject({ kind: "executed", quantity: challenged.quantity });
    await broker.getPrice(world.config.market.symbol);

    // Every request with Alice's token belongs to a handshake made with it; the read after it
    // reuses the reader without a new handshake, with the agent token.
    expect(sent.slice(from).map((s) => [s.method, s.token === obo.accessToken ? "obo" : who(s)])).toEqual([
      ["initialize", "obo"],
      ["notifications/initialized", "obo"],
      ["GET", "obo"],
      ["tools/call", "obo"],
      ["tools/call", "agent"],
    ]);
  });
});
