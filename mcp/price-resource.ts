import "server-only";
import type { McpServer } from "@modelcontextprotocol/server";
import { formatMoney } from "../lib/money";
import { priceResourceUri, SCOPE_READ } from "../lib/protocol";
import { requireScope, type ToolContext } from "./tool-context";

/**
 * The price as an MCP resource (`market://NVDA/price`), readable with stock:read like
 * get_market_price. It exists so that a client can subscribe to it: the endpoint sends
 * `notifications/resources/updated` for this URI on every market tick to each open
 * `subscriptions/listen` stream that names it (mcp/price-listen.ts).
 */
export function registerPriceResource(server: McpServer, ctx: ToolContext): void {
  const market = ctx.deps.market;
  const uri = priceResourceUri(ctx.deps.config.market.symbol);
  server.registerResource(
    "price",
    uri,
    {
      title: `${ctx.deps.config.market.symbol} price`,
      description: "The current price in USD and the market status; updated on every market tick.",
      mimeType: "application/json",
      scopeChallenge: requireScope(`resource ${uri}`, SCOPE_READ, ctx),
    },
    async () => {
      const s = market.snapshot();
      const data = { symbol: s.symbol, price: formatMoney(s.priceCents), currency: "USD", status: s.status, at: s.at };
      return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(data) }] };
    },
  );
}
