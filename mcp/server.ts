import "server-only";
import { McpServer } from "@modelcontextprotocol/server";
import type { Principal } from "../lib/protected-resource/principal";
import type { BrokerDeps } from "./tool-context";
import { readSchemas, registerReadTools } from "./tools-read";
import { registerTradeTools, tradeSchema } from "./tools-trade";

/**
 * The stock broker as an MCP server. Stateless: one McpServer per HTTP request, built for the
 * caller the gate verified, so a tool can only ever see the principal of its own request.
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

export function createBrokerServer(deps: BrokerDeps, schemas: BrokerSchemas, principal: Principal | undefined): McpServer {
  const server = new McpServer(
    { name: "sleeping-guardian-broker", version: "1.0.0" },
    {
      instructions:
        "A simulated stock broker. Read tools need stock:read. buy_stock and sell_stock need stock:trade and a token " +
        "issued on behalf of the user that approves the exact order (RFC 9396 authorization_details).",
      // Arguments are three scalars; anything much bigger is not a real call.
      maxToolInputElements: 64,
    },
  );
  const ctx = { deps, principal };
  registerReadTools(server, ctx, schemas.read);
  registerTradeTools(server, ctx, schemas.trade);
  return server;
}
