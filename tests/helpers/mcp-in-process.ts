import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { parseConfig, type AppConfig } from "../../lib/config";
import { ActivityLog } from "../../lib/events/activity";
import { EventBus } from "../../lib/events/bus";
import { ensurePortfolio } from "../../lib/ledger/portfolio";
import { MarketSimulator } from "../../lib/market/simulator";
import { createMcpEndpoint, type McpEndpoint } from "../../mcp/endpoint";
import type { BrokerDeps } from "../../mcp/tool-context";
import { startTestIssuer, type TestIssuer } from "./jwks-server";
import { openTestDb } from "./store-snapshot";

/**
 * Just what the MCP server needs, in memory: store (migrated), bus, activity log, market (no
 * ticker) and Alice's portfolio. No identity server, no agent: in-process tests and the benchmark
 * exercise the MCP endpoint alone.
 */
export type McpDeps = BrokerDeps & { stop(): Promise<void> };

export async function startMcpDeps(config: AppConfig): Promise<McpDeps> {
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

/** The test configuration at `publicUrl` whose authorization server is `issuer` (its tokens checked against its JWKS). */
export function configTrusting(issuer: TestIssuer, publicUrl: string): AppConfig {
  return parseConfig({ NODE_ENV: "test", PUBLIC_URL: publicUrl, DATA_DIR: "memory://", AUTH_ISSUER: issuer.issuer, AUTH_JWKS_URI: issuer.jwksUri });
}

export interface InProcessMcp {
  issuer: TestIssuer;
  broker: McpDeps;
  endpoint: McpEndpoint;
  /** Closes the endpoint, then its dependencies, then the issuer. */
  stop(): Promise<void>;
}

/**
 * A test issuer minting tokens for `${publicUrl}/mcp` and the /mcp endpoint in-process trusting it,
 * on a store of its own; `binding` replaces the configured order-binding rule.
 */
export async function startInProcessMcp(publicUrl: string, { binding }: { binding?: AppConfig["auth"]["binding"] } = {}): Promise<InProcessMcp> {
  const issuer = await startTestIssuer({ audience: `${publicUrl}/mcp` });
  const started: { broker?: McpDeps } = {};
  try {
    const config = configTrusting(issuer, publicUrl);
    if (binding) config.auth.binding = binding;
    const broker = (started.broker = await startMcpDeps(config));
    const endpoint = createMcpEndpoint(broker);
    const stop = async () => {
      await endpoint.close();
      await broker.stop();
      await issuer.close();
    };
    return { issuer, broker, endpoint, stop };
  } catch (error) {
    await started.broker?.stop();
    await issuer.close();
    throw error;
  }
}
