import "server-only";
import { startPollState } from "../auth/ciba-poller";
import { CibaRequestError } from "../auth/providers/types";
import { formatMoney } from "../money";
import type { StockTradeDetail } from "../orders/order";
import { deriveBindingMessage } from "./binding-message";
import type { Quote } from "./broker";
import type { AgentContext } from "./context";
import { validateProposal, type Mandate } from "./mandate";
import { freezeOrder, limitPriceCents } from "./order";
import { askForProposal } from "./propose";
import { closeOrderUnlessTraded, insertApproval, insertOrder, setOrderStatus } from "./repository";

/**
 * The agent's way from a price below the threshold to a pending approval, as named steps:
 *
 *   1. askModel          — the model proposes (or not); no token in its context
 *   2. freezeProposal    — code validates against the mandate and freezes the order
 *   3. tryWithAgentToken — buy_stock with the agent token: the broker answers 403
 *                          insufficient_scope (a trade needs the user)
 *   4. requestApproval   — CIBA request with the order, the binding message and the agent
 *                          token as actor_token; stored before anything else happens
 *
 * Each step records what happened in the activity log and moves the state machine.
 */

/** Runs steps 1–4. Returns the order that now awaits approval, or undefined. */
export async function proposeAndRequestApproval(ctx: AgentContext, quote: Quote, mandate: Mandate): Promise<StockTradeDetail | undefined> {
  await ctx.transition("price_below_threshold", { reason: null, orderId: null, oboTokenClaims: null });
  const raw = await askModel(ctx, quote, mandate);
  if (!raw) return undefined;
  const order = await freezeProposal(ctx, raw, quote, mandate);
  if (!order) return undefined;
  const scope = await tryWithAgentToken(ctx, order);
  if (!scope) return undefined;
  return (await requestApproval(ctx, order, scope)) ? order : undefined;
}

async function askModel(ctx: AgentContext, quote: Quote, mandate: Mandate) {
  const { config, model } = ctx;
  await ctx.log("info", "agent.model", `Asking the model (${model.label}) for a recommendation: ${quote.symbol} at ${formatMoney(quote.priceCents)} USD`);
  let result;
  try {
    result = await askForProposal({
      model: model.model,
      mandate,
      priceCents: quote.priceCents,
      agentName: config.agent.name,
      investorName: config.investor.name,
      timeoutMs: config.agent.modelTimeoutMs,
      signal: ctx.signal,
      readPrice: (symbol) => ctx.broker.getPrice(symbol, ctx.signal),
    });
  } catch (error) {
    ctx.signal.throwIfAborted();
    const reason = `the model failed: ${errorText(error)}`;
    await ctx.log("error", "agent.model_failed", `No recommendation: ${reason}. No order; trying again after the cooldown.`);
    await ctx.transition("model_failed", { reason, cooldownUntil: cooldown(ctx) });
    return undefined;
  }
  const [first, ...others] = result.proposals;
  if (!first) {
    const reason = result.text ? `the model proposed no trade: ${result.text}` : "the model proposed no trade";
    await ctx.log("info", "agent.no_proposal", `${capitalize(reason)}.`);
    await ctx.transition("no_proposal", { reason, cooldownUntil: cooldown(ctx) });
    return undefined;
  }
  if (others.length) await ctx.log("warn", "agent.extra_proposals", `The model made ${result.proposals.length} proposals; only the first is considered.`);
  return first;
}

async function freezeProposal(ctx: AgentContext, raw: { symbol?: unknown; quantity?: unknown; reason?: unknown }, quote: Quote, mandate: Mandate) {
  const { config } = ctx;
  const limit = limitPriceCents(quote.priceCents, config.agent.limitToleranceBps);
  const check = validateProposal(raw, mandate, quote.priceCents, limit);
  if (!check.ok) {
    const reason = `proposal refused (${check.code}): ${check.reason}`;
    await ctx.log("warn", "agent.proposal_refused", `Model proposal refused by the mandate check: ${check.reason}. No order.`, { code: check.code });
    await ctx.transition("proposal_refused", { reason, cooldownUntil: cooldown(ctx) });
    return undefined;
  }
  const p = check.proposal;
  await ctx.log("info", "agent.recommendation", `Model recommends: buy ${printQuantity(raw.quantity)} ${p.symbol}${p.reason ? ` — ${p.reason}` : ""}`);
  if (p.clipped) await ctx.log("warn", "agent.proposal_clipped", `Proposal clipped by the mandate: ${p.clipped}`);

  const expiresAt = new Date(ctx.now().getTime() + (config.agent.approvalExpirySeconds + ORDER_EXECUTION_WINDOW_SECONDS) * 1000);
  const order = freezeOrder({ symbol: p.symbol, side: "buy", quantity: p.quantity, limitPriceCents: p.limitPriceCents, maxNotionalCents: mandate.budgetCents, expiresAt });
  await insertOrder(ctx.db, order, config.investor.userId, { symbol: raw.symbol, quantity: raw.quantity, reason: p.reason });
  await ctx.log(
    "info",
    "agent.order",
    `Order frozen: buy ${order.quantity} ${order.symbol}, limit ${order.limit_price} USD, max ${order.max_notional} USD, expires ${time(order.expires_at)} (${order.order_id})`,
    { orderId: order.order_id },
  );
  await ctx.transition("order_frozen", { orderId: order.order_id });
  return order;
}

/** The order stays executable this long after the approval window closes (the trade itself). */
export const ORDER_EXECUTION_WINDOW_SECONDS = 60;

/** Returns the scope the broker challenged for, or undefined when the step ended the flow. */
async function tryWithAgentToken(ctx: AgentContext, order: StockTradeDetail): Promise<string | undefined> {
  const agentToken = await ctx.tokens.current();
  const outcome = await ctx.broker.trade("buy", tradeArgs(order), agentToken, ctx.signal).catch(async (error: unknown) => {
    ctx.signal.throwIfAborted();
    await fail(ctx, order, "trade_failed", `buy_stock with the agent token failed: ${errorText(error)}`);
    return undefined;
  });
  if (!outcome) return undefined;
  if (outcome.kind === "insufficient_scope") {
    const scope = outcome.scope ?? "stock:trade";
    await ctx.log("warn", "agent.insufficient_scope", `Broker refused buy_stock with the agent token: HTTP 403 insufficient_scope, needs ${scope}. Asking ${ctx.config.investor.name} to approve.`, {
      scope,
      resourceMetadata: outcome.resourceMetadata ?? null,
    });
    return scope;
  }
  if (outcome.kind === "refused") {
    await fail(ctx, order, "trade_refused", `the broker refused the order: ${outcome.code}: ${outcome.message}`);
    return undefined;
  }
  // A broker that lets an agent token trade is misconfigured; the trade happened, say so.
  await setOrderStatus(ctx.db, order.order_id, "executed", "executed with the agent token", outcome.tradeId);
  await ctx.log("warn", "agent.trade", `The broker executed the order with the agent's own token (trade ${outcome.tradeId}); it should have required ${ctx.config.investor.name}'s approval.`);
  await ctx.transition("trade_executed", { reason: "executed without approval", armed: false });
  return undefined;
}

async function requestApproval(ctx: AgentContext, order: StockTradeDetail, scope: string): Promise<boolean> {
  const { config } = ctx;
  const bindingMessage = deriveBindingMessage(order);
  const agentToken = await ctx.tokens.current();
  let ack;
  try {
    ack = await ctx.profile.startCiba({ order, bindingMessage, actorToken: agentToken.accessToken, requestedExpirySeconds: config.agent.approvalExpirySeconds });
  } catch (error) {
    ctx.signal.throwIfAborted();
    const why = error instanceof CibaRequestError ? (error.unreachable ? `identity server unreachable (${error.description})` : error.message) : errorText(error);
    await fail(ctx, order, "approval_request_failed", `the CIBA request was not accepted: ${why}`);
    return false;
  }
  // Stored before polling starts: a restart from here on resumes polling this request.
  const poll = startPollState(ack, ctx.now());
  await insertApproval(ctx.db, { authReqId: ack.authReqId, orderId: order.order_id, bindingMessage, intervalSeconds: poll.intervalSeconds, expiresAt: poll.expiresAt, nextPollAt: poll.nextPollAt });
  await setOrderStatus(ctx.db, order.order_id, "awaiting_approval");
  await ctx.transition("approval_requested");
  await ctx.log(
    "info",
    "agent.ciba_sent",
    `CIBA request sent to ${config.investor.name} (${config.investor.email}) for scope ${scope}: "${bindingMessage}", expires in ${ack.expiresIn} s`,
    { orderId: order.order_id, bindingMessage, expiresIn: ack.expiresIn, interval: ack.interval ?? null },
  );
  await ctx.log(
    "info",
    "agent.waiting",
    `Waiting for ${config.investor.name}'s approval: polling every ${poll.intervalSeconds} s${ack.interval === undefined ? " (the server sent no interval: CIBA default)" : ""} until ${time(poll.expiresAt.toISOString())}`,
  );
  return true;
}

export function tradeArgs(order: StockTradeDetail) {
  return { symbol: order.symbol, quantity: order.quantity, order_id: order.order_id };
}

/**
 * Ends the flow as FAILED: the order is marked failed (never one the ledger holds a trade for),
 * the reason shown, a cooldown starts. `disarm` when the outcome is unknown after Alice approved
 * (the broker may have traded): the agent does not ask her again during this fall.
 */
export async function fail(
  ctx: AgentContext,
  order: StockTradeDetail,
  event: "trade_failed" | "trade_refused" | "approval_request_failed" | "approval_failed",
  reason: string,
  options: { disarm?: boolean } = {},
) {
  await closeOrderUnlessTraded(ctx.db, order.order_id, "failed", reason);
  await ctx.log("error", "agent.failed", `No trade: ${reason.replace(/\.$/, "")}.`, { orderId: order.order_id });
  await ctx.transition(event, { reason, cooldownUntil: cooldown(ctx), ...(options.disarm ? { armed: false } : {}) });
}

/** When a cooldown that starts now ends. */
export function cooldown(ctx: Pick<AgentContext, "now" | "config">): Date {
  return new Date(ctx.now().getTime() + ctx.config.agent.cooldownSeconds * 1000);
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return (error.name === "TimeoutError" ? "timed out" : error.message).slice(0, 200);
  return "unknown error";
}

export function time(iso: string): string {
  return new Date(iso).toISOString().slice(11, 19) + " UTC";
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const printQuantity = (q: unknown) => (typeof q === "number" && Number.isFinite(q) ? String(q) : JSON.stringify(q)?.slice(0, 20) ?? "?");
