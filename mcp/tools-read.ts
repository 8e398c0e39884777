import "server-only";
import type { McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import { getPortfolio } from "../lib/ledger/portfolio";
import { listTrades } from "../lib/ledger/trades";
import { pricesAt } from "../lib/market/simulator";
import { formatMoney } from "../lib/money";
import type { Trade } from "../lib/types";
import { SCOPE_READ } from "../lib/protocol";
import type { Principal } from "../lib/protected-resource/principal";
import { refuse, requireScope, runTool, type Outcome, type ToolContext } from "./tool-context";
import { checkedInput, type Checked } from "./tool-input";

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

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

export function registerReadTools(server: McpServer, ctx: ToolContext, schemas: ReturnType<typeof readSchemas>): void {
  const market = ctx.deps.market;

  /** One read tool: stock:read (a 403 challenge without it), read-only, run and audited by runTool. */
  const readTool = <S extends z.ZodType>(
    name: string,
    about: { title: string; description: string; schema: S },
    body: (args: z.output<S>, principal: Principal) => Promise<Outcome>,
  ) =>
    server.registerTool(
      name,
      {
        title: about.title,
        description: about.description,
        inputSchema: checkedInput(about.schema),
        annotations: READ_ONLY,
        scopeChallenge: requireScope(name, SCOPE_READ, ctx),
      },
      (input: Checked<z.output<S>>) => runTool(name, ctx, input, body),
    );

  readTool(
    "get_market_price",
    { title: "Get market price", description: "Current price of a stock in USD, its change since the open and the market status.", schema: schemas.price },
    async () => ({ ok: true, data: quote(market.snapshot()) }),
  );

  readTool("list_symbols", { title: "List symbols", description: "The symbols this broker trades.", schema: schemas.none }, async () => {
    const s = market.snapshot();
    return { ok: true, data: { symbols: [{ symbol: s.symbol, price: formatMoney(s.priceCents), currency: "USD", status: s.status }] } };
  });

  readTool(
    "get_portfolio",
    { title: "Get portfolio", description: "Cash, holdings and value of the user the token was issued for. Agent tokens have no portfolio.", schema: schemas.none },
    forUser(async (principal) => {
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

  readTool(
    "get_trade_history",
    { title: "Get trade history", description: "Trades of the user the token was issued for, newest first, with the agent that placed each.", schema: schemas.history },
    forUser(async (principal, args) => {
      const trades = await listTrades(ctx.deps.db, { userSub: principal.sub, limit: args.limit ?? 20 });
      return { ok: true, data: { user: principal.sub, trades: trades.map(tradeView) } };
    }),
  );
}

/** A tool body that runs only for a token issued on behalf of a user (requireUserSubject). */
function forUser<A>(body: (principal: Principal, args: A) => Promise<Outcome>): (args: A, principal: Principal) => Promise<Outcome> {
  return async (args, principal) => requireUserSubject(principal) ?? body(principal, args);
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
