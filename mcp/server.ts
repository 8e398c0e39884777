import "server-only";
import { McpServer } from "@modelcontextprotocol/server";
import type { Principal } from "../lib/protected-resource/principal";
import type { BrokerDeps } from "./tool-context";
import { registerPriceResource } from "./price-resource";
import { readSchemas, registerReadTools } from "./tools-read";
import { registerTradeTools, tradeSchema } from "./tools-trade";

/**
 * The stock broker as an MCP server. Stateless: one McpServer per HTTP request, built for the
 * caller the gate verified, so a tool can only ever see the principal of its own request.
 *
 * Only a 2026-07-28 server advertises `resources.subscribe`: there a subscription is one
 * `subscriptions/listen` request whose answer is the stream (mcp/price-listen.ts). A 2025-era
 * client would need a session and the GET stream, which this stateless server does not keep, so
 * its `resources/subscribe` is "method not found" rather than a promise nothing would keep.
 */

export interface BrokerSchemas {
  read: ReturnType<typeof readSchemas>;
  trade: ReturnType<typeof tradeSchema>;
}

/** Schemas depend on the config only (known symbols, maximum quantity): built once per endpoint. */
export function brokerSchemas(deps: BrokerDeps): BrokerSchemas {
  const symbols: [string, ...string[]] = [deps.config.market.symbol];
  return { read: readSchemas(symbols), trade: tradeSchema(symbols, deps.config.mandate.maxQuantity) };
}

export function createBrokerServer(deps: BrokerDeps, schemas: BrokerSchemas, principal: Principal | undefined, era: "legacy" | "modern" = "legacy"): McpServer {
  const server = new McpServer(
    { name: "sleeping-guardian-broker", version: "1.0.0" },
    {
      instructions:
        "A simulated stock broker. Read tools need stock:read. buy_stock and sell_stock need stock:trade and a token " +
        "issued on behalf of the user that approves the exact order (RFC 9396 authorization_details).",
      // Arguments are three scalars; anything much bigger is not a real call.
      maxToolInputElements: 64,
      capabilities: { resources: { listChanged: false, ...(era === "modern" ? { subscribe: true } : {}) } },
    },
  );
  const ctx = { deps, principal };
  registerReadTools(server, ctx, schemas.read);
  registerTradeTools(server, ctx, schemas.trade);
  registerPriceResource(server, ctx);
  return server;
}
