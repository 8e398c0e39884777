import "server-only";
import type { McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import { findInvestor } from "../lib/config";
import { executeTrade, isLedgerRefusal } from "../lib/ledger/trades";
import type { Queryable } from "../lib/store/db";
import { formatMoney } from "../lib/money";
import { OrderId, positiveMoney, type OrderSide } from "../lib/orders/order";
import { SCOPE_TRADE } from "../lib/protocol";
import { auditToolCall } from "./audit";
import { approvedOrderFromDetails, bindingRefused, checkTradeAgainstOrder, type ApprovedOrder, type BindingRule, type TradeRequest } from "../lib/orders/check";
import { checkChallengedOrder } from "./challenged-order";
import { approvedOrderFromStore, storedOrderRefusal } from "./stored-order";
import type { Principal } from "../lib/protected-resource/principal";
import { refuse, requireScope, runTool, type Outcome, type ToolContext } from "./tool-context";
import { checkedInput, type Checked } from "./tool-input";
import { requireUserSubject, tradeView } from "./tools-read";
import { ProtocolError } from "../lib/errors";
import type { Mandate } from "../lib/standing-mandate/mandate";
import { authorizeUnderMandate, carriesMandate, checkTradeAgainstMandate } from "./standing-mandate";

/** The binding rule recorded for a trade made under a standing mandate instead of an approved order. */
const MANDATE_RULE = "mandate";

/**
 * buy_stock / sell_stock: stock:trade, a user subject, and a match with the order the user
 * approved under the configured binding rule (lib/orders/check.ts), executed at most once per order
 * id and per token (the trades table's unique order_id and token_jti, in the same transaction as
 * the audit record).
 */

export function tradeSchema(symbols: [string, ...string[]], maxQuantity: number) {
  return z.strictObject({
    symbol: z.enum(symbols).describe("Ticker symbol, e.g. NVDA"),
    quantity: z.number().int().min(1).max(maxQuantity).describe(`Whole shares, 1 to ${maxQuantity}`),
    order_id: OrderId.optional().describe(
      "The id of the approved order, ord_ followed by 16-40 letters or digits. Without an approved order the broker answers " +
        "HTTP 403 insufficient_authorization naming the order (its authorization_details) the user must approve.",
    ),
    limit_price: positiveMoney("limit_price")
      .optional()
      .describe("The limit for the order the broker freezes when it asks for approval (default: the current price plus a small tolerance)"),
  });
}
type TradeArgs = z.output<ReturnType<typeof tradeSchema>>;

export function registerTradeTools(server: McpServer, ctx: ToolContext, schema: ReturnType<typeof tradeSchema>): void {
  for (const side of ["buy", "sell"] as const) {
    const tool = `${side}_stock`;
    server.registerTool(
      tool,
      {
        title: side === "buy" ? "Buy stock" : "Sell stock",
        description:
          `${side === "buy" ? "Buys" : "Sells"} shares at the current market price for the user the token was issued for. ` +
          "Requires stock:trade and a token that approves this exact order; each order and token executes once.",
        inputSchema: checkedInput(schema),
        annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
        scopeChallenge: requireScope(tool, SCOPE_TRADE, ctx, (message) => logRefusal(ctx, tool, "insufficient_scope", message)),
      },
      (input: Checked<TradeArgs>) =>
        runTool(
          tool,
          ctx,
          input,
          (args, principal) => placeTrade(ctx, tool, side, args, principal),
          (r) => logRefusal(ctx, tool, r.code, r.message),
        ),
    );
  }
}

async function placeTrade(ctx: ToolContext, tool: string, side: OrderSide, args: TradeArgs, principal: Principal): Promise<Outcome> {
  const notUser = requireUserSubject(principal);
  if (notUser) return notUser;
  if (!principal.scopes.includes(SCOPE_TRADE)) return refuse("insufficient_scope", `The token lacks ${SCOPE_TRADE}.`);

  const { deps } = ctx;
  const priceCents = deps.market.snapshot().priceCents;
  const orderId = args.order_id;
  if (!orderId) return refuse("order_id_required", "Name the approved order (order_id); a token without one is answered with the order to approve.");
  const rule: BindingRule = deps.config.auth.binding;
  const tag = { orderId, bindingRule: rule as string };

  const request: TradeRequest = { orderId, symbol: args.symbol, side, quantity: args.quantity };
  const now = new Date();

  // Under "rar" the approved order, or Alice's standing mandate, travels in the token and is
  // checked before anything is read; the store is consulted inside the trade's transaction, with
  // the order row (and the mandate row) locked.
  let boundToken: { sub: string; jti: string } | undefined;
  let tokenOrder: ApprovedOrder | undefined;
  let underMandate: { mandate: Mandate; notionalCents: number } | undefined;
  if (rule === "rar" && carriesMandate(principal.authorizationDetails)) {
    const check = checkTradeAgainstMandate(principal, request, priceCents, now);
    if (!check.ok) return refuse(check.code, check.message, { ...tag, bindingRule: MANDATE_RULE });
    underMandate = check;
  } else if (rule === "rar") {
    if (principal.authorizationDetails === undefined) {
      return refuse("authorization_details_required", "The token carries no authorization_details: it approves no order.", tag);
    }
    const approved = approvedOrderFromDetails(principal.authorizationDetails, orderId, { auth0Type: deps.config.auth0?.rarType });
    if (!approved.ok) return refuse(approved.code, approved.message, tag);
    const check = checkTradeAgainstOrder(approved.order, request, priceCents, now);
    if (!check.ok) return refuse(check.code, check.message, tag);
    tokenOrder = approved.order;
  } else {
    if (!principal.jti) return refuse("jti_required", "The token must carry a jti to be bound to a recorded approval.", tag);
    boundToken = { sub: principal.sub, jti: principal.jti };
  }
  const authorizeInTransaction = async (tx: Queryable) => {
    if (!boundToken) {
      const closed = await storedOrderRefusal(tx, orderId, principal.sub);
      if (closed) throw bindingRefused(closed);
      const challenged = await checkChallengedOrder(tx, orderId, principal, tokenOrder);
      if (!challenged.ok) throw bindingRefused(challenged);
      if (underMandate) {
        const granted = await authorizeUnderMandate(tx, principal, underMandate.mandate, underMandate.notionalCents, now);
        if (!granted.ok) throw new ProtocolError(granted.code, granted.message, { status: 403 });
      }
      return;
    }
    const approved = await approvedOrderFromStore(tx, orderId, boundToken);
    if (!approved.ok) throw bindingRefused(approved);
    const check = checkTradeAgainstOrder(approved.order, request, priceCents, now);
    if (!check.ok) throw bindingRefused(check);
    const challenged = await checkChallengedOrder(tx, orderId, principal, approved.order);
    if (!challenged.ok) throw bindingRefused(challenged);
  };

  if (underMandate) tag.bindingRule = MANDATE_RULE;

  let trade;
  try {
    trade = await executeTrade(
      deps.db,
      {
        userSub: principal.sub,
        actorSub: principal.actor,
        actorChain: principal.actorChain ?? undefined,
        clientId: principal.clientId,
        orderId,
        tokenJti: principal.jti,
        symbol: args.symbol,
        side,
        quantity: args.quantity,
        priceCents,
        bindingRule: tag.bindingRule,
      },
      {
        before: authorizeInTransaction,
        // The audit record commits with the trade or not at all.
        after: (tx, t) =>
          auditToolCall(tx, principal, {
            tool,
            decision: "allowed",
            reason: `executed: trade ${t.id}, ${t.quantity} ${t.symbol} at ${formatMoney(t.priceCents)} USD`,
            args,
            orderId,
            bindingRule: tag.bindingRule,
          }),
      },
    );
  } catch (error) {
    if (error instanceof ProtocolError && error.status === 403) return refuse(error.code, error.description, tag);
    if (!isLedgerRefusal(error)) throw error;
    const message =
      error.code === "already_executed" ? `Replay refused: order ${orderId} or this token has already been used for a trade.` : error.description;
    return refuse(error.code, message, tag);
  }

  deps.bus.publish("ledger", { reason: "trade", userSub: trade.userSub });
  const by = principal.actor ? ` by ${principal.actor}` : "";
  // The trade has committed: a failing activity entry must not make it look refused. It is hers.
  await deps.activity
    .forInvestor(trade.userSub)
    .add({
      level: "success",
      kind: "mcp.trade",
      message: `${side === "buy" ? "Bought" : "Sold"} ${trade.quantity} ${trade.symbol} at ${formatMoney(trade.priceCents)} USD for ${trade.userSub}${by} (order ${orderId}, rule ${tag.bindingRule})`,
      data: { tool, tradeId: trade.id, orderId, sub: trade.userSub, actor: principal.actor, bindingRule: tag.bindingRule },
    })
    .catch((e: unknown) => console.error("[mcp] activity entry failed:", e instanceof Error ? e.message : "unknown error"));
  return { ok: true, data: { ...tradeView(trade), status: "executed" }, audited: true, ...tag };
}

/** Tells the dashboard's story: who tried what and why it was refused. Never a token. */
async function logRefusal(ctx: ToolContext, tool: string, code: string, message: string): Promise<void> {
  const p = ctx.principal;
  const who = p ? `${p.sub}${p.actor ? ` (by ${p.actor})` : ""}` : "an unknown caller";
  // A refusal for an investor is hers; one of an agent-only or unknown caller is everyone's.
  const investor = findInvestor(ctx.deps.config, p?.sub);
  await (investor ? ctx.deps.activity.forInvestor(investor.userId) : ctx.deps.activity).add({
    level: "warn",
    kind: "mcp.refused",
    message: `${tool} refused for ${who}: ${message}`,
    data: { tool, code, sub: p?.sub ?? null, actor: p?.actor ?? null },
  });
}
