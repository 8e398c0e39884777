import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { AppConfig } from "../../lib/config";
import { ActivityLog } from "../../lib/events/activity";
import { EventBus } from "../../lib/events/bus";
import { ensurePortfolio } from "../../lib/ledger/portfolio";
import { MarketSimulator } from "../../lib/market/simulator";
import type { McpEndpoint } from "../../mcp/endpoint";
import type { BrokerDeps } from "../../mcp/tool-context";
import { openTestDb } from "./store";

/**
 * Just what the MCP server needs, in memory: store (migrated), bus, activity log, market (no
 * ticker) and Alice's portfolio. No identity server, no agent: in-process tests and the benchmark
 * exercise the MCP endpoint alone.
 */
export async function startMcpDeps(config: AppConfig): Promise<BrokerDeps & { stop(): Promise<void> }> {
  const db = await openTestDb();
  const bus = new EventBus();
  const activity = new ActivityLog(db, bus);
  const market = new MarketSimulator(db, bus, config.market.symbol, config.market.initialPriceCents);
  await market.load();
  await ensurePortfolio(db, config.investor.userId, config.investor.name, config.investor.initialBalanceCents);
  return { config, db, bus, activity, market, stop: () => db.close() };
}

/** Serves an endpoint in-process as a fetch function: gate first, then handle, as the route does. */
export function inProcessFetch(endpoint: McpEndpoint): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, init);
    const auth = await endpoint.gate(request);
    return auth instanceof Response ? auth : endpoint.handle(request, auth);
  };
}

/** A real MCP client (2025-era handshake) talking to the endpoint in-process with a bearer token. */
export async function connectInProcess(endpoint: McpEndpoint, url: string, token: string): Promise<Client> {
  const client = new Client({ name: "in-process-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      fetch: inProcessFetch(endpoint),
    }),
  );
  return client;
}
