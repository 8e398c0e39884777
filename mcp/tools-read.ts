import "server-only";
import type { McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import { getPortfolio } from "../lib/ledger/portfolio";
import { listTrades } from "../lib/ledger/trades";
import { pricesAt } from "../lib/market/simulator";
import { formatMoney } from "../lib/money";
import type { Trade } from "../lib/types";
import { SCOPE_READ } from "./metadata";
import type { Principal } from "../lib/protected-resource/principal";
import { refuse, requireScope, runTool, type Outcome, type ToolContext } from "./tool-context";
import { checkedInput } from "./tool-input";

/** The read tools: stock:read. Portfolio and history also need a user subject. */

export function readSchemas(symbols: [string, ...string[]]) {
  return {
    price: z.strictObject({ symbol: z.enum(symbols).describe("Ticker symbol, e.g. NVDA") }),
    none: z.strictObject({}),
    history: z.strictObject({
      limit: z.number().int().min(1).max(100).optional().describe("How many trades, newest first (default 20)"),
    }),
  };
}

export function registerReadTools(server: McpServer, ctx: ToolContext, schemas: ReturnType<typeof readSchemas>): void {
  const readOnly = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
  const market = ctx.deps.market;

  server.registerTool(
    "get_market_price",
    {
      title: "Get market price",
      description: "Current price of a stock in USD, its change since the open and the market status.",
      inputSchema: checkedInput(schemas.price),
      annotations: readOnly,
      scopeChallenge: requireScope("get_market_price", SCOPE_READ, ctx),
    },
    (input) => runTool("get_market_price", ctx, input, async () => ({ ok: true, data: quote(market.snapshot()) })),
  );

  server.registerTool(
    "list_symbols",
    {
      title: "List symbols",
      description: "The symbols this broker trades.",
      inputSchema: checkedInput(schemas.none),
      annotations: readOnly,
      scopeChallenge: requireScope("list_symbols", SCOPE_READ, ctx),
    },
    (input) =>
      runTool("list_symbols", ctx, input, async () => {
        const s = market.snapshot();
        return { ok: true, data: { symbols: [{ symbol: s.symbol, price: formatMoney(s.priceCents), currency: "USD", status: s.status }] } };
      }),
  );

  server.registerTool(
    "get_portfolio",
    {
      title: "Get portfolio",
      description: "Cash, holdings and value of the user the token was issued for. Agent tokens have no portfolio.",
      inputSchema: checkedInput(schemas.none),
      annotations: readOnly,
      scopeChallenge: requireScope("get_portfolio", SCOPE_READ, ctx),
    },
    (input) =>
      runTool("get_portfolio", ctx, input, async (_args, principal) => {
        const refusal = requireUserSubject(principal);
        if (refusal) return refusal;
        const p = await getPortfolio(ctx.deps.db, principal.sub, pricesAt(market.snapshot()));
        if (!p) return refuse("no_portfolio", `No portfolio exists for user ${principal.sub}.`);
        return {
          ok: true,
          data: {
            user: p.userSub,
            display_name: p.displayName,
            currency: "USD",
            cash: formatMoney(p.cashCents),
            holdings: p.holdings.map((h) => ({
              symbol: h.symbol,
              quantity: h.quantity,
              average_cost: formatMoney(h.averageCostCents),
              value: formatMoney(h.valueCents),
              pnl: formatMoney(h.pnlCents),
            })),
            total_value: formatMoney(p.totalValueCents),
            pnl: formatMoney(p.pnlCents),
          },
        };
      }),
  );

  server.registerTool(
    "get_trade_history",
    {
      title: "Get trade history",
      description: "Trades of the user the token was issued for, newest first, with the agent that placed each.",
      inputSchema: checkedInput(schemas.history),
      annotations: readOnly,
      scopeChallenge: requireScope("get_trade_history", SCOPE_READ, ctx),
    },
    (input) =>
      runTool("get_trade_history", ctx, input, async (args, principal) => {
        const refusal = requireUserSubject(principal);
        if (refusal) return refusal;
        const trades = await listTrades(ctx.deps.db, { userSub: principal.sub, limit: args.limit ?? 20 });
        return { ok: true, data: { user: principal.sub, trades: trades.map(tradeView) } };
      }),
  );
}

/** An agent's own token speaks for nobody's money: refuse rather than guess whose data to show. */
export function requireUserSubject(principal: Principal): Outcome | undefined {
  if (principal.subjectKind === "user") return undefined;
  return refuse(
    "agent_subject",
    `The token's subject (${principal.sub}) is an agent, which has no portfolio; this needs a token issued on behalf of a user.`,
  );
}

function quote(s: ReturnType<ToolContext["deps"]["market"]["snapshot"]>) {
  return {
    symbol: s.symbol,
    price: formatMoney(s.priceCents),
    currency: "USD",
    open: formatMoney(s.openCents),
    change: formatMoney(s.changeCents),
    change_percent: s.changePercent,
    status: s.status,
    at: s.at,
  };
}

export function tradeView(t: Trade) {
  return {
    trade_id: t.id,
    executed_at: t.at,
    order_id: t.orderId,
    side: t.side,
    symbol: t.symbol,
    quantity: t.quantity,
    price: formatMoney(t.priceCents),
    notional: formatMoney(t.notionalCents),
    user: t.userSub,
    actor: t.actorSub,
    client_id: t.clientId,
    binding_rule: t.bindingRule,
  };
}
