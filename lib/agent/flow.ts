import "server-only";
import type { StandingMandate } from "./standing-mandate";
import type { AgentTokenSource } from "../auth/agent-token";
import { abortableSleep, pollUntilDecided, startPollState, type CibaFinal, type CibaPollState } from "../auth/ciba-poller";
import { scopesOf } from "../auth/claims";
import type { IdentityServerProfile, TokenResult } from "../auth/profiles/types";
import { ProtocolError } from "../errors";
import type { AppConfig } from "../config";
import { formatMoney } from "../money";
import { deriveBindingMessage } from "../orders/binding-message";
import { challengedMatchesProposal, grantedMatchesOrder } from "../orders/check";
import { limitPriceCents } from "../orders/freeze";
import type { StockTradeDetail } from "../orders/order";
import { SCOPE_TRADE } from "../protocol";
import type { Db } from "../store/db";
import { findTradeForOrder } from "../store/orders";
import type { ActivityLevel, Trade as LedgerTrade } from "../types";
import { auditAgentDecision, type AgentAuditEvent } from "./audit";
import { validateProposal, type Mandate } from "./mandate";
import type { McpClientPort, Quote } from "./mcp-client";
import type { ModelChoice } from "./models/select";
import { askForProposal } from "./propose";
import {
  closeOrderUnlessTraded,
  insertApproval,
  insertOrder,
  recordApprovedToken,
  setApprovalStatus,
  setOrderStatus,
  updateApprovalPolling,
  type AgentPatch,
  type AgentRow,
  type ApprovalRecord,
} from "./repository";
import type { AgentEvent } from "./state-machine";

/**
 * The agent's flow, from a price below the threshold to a trade, as seven named steps:
 *
 *   1. askModel          — the model proposes (or not); no token in its context
 *   2. checkProposal     — code checks the proposal against the mandate
 *   3. tryWithAgentToken — buy_stock with the agent token: the broker answers 403
 *                          insufficient_authorization naming the order it froze (a trade needs
 *                          the user); the agent records it if it is exactly the proposal
 *   4. requestApproval   — CIBA request with the broker's order unchanged, the binding message
 *                          and the agent token as actor_token; stored before anything else happens
 *   5. awaitDecision     — poll the token endpoint at the server's pace (stored after every poll,
 *                          so a restart resumes the same request)
 *   6. verifyGrant       — the on-behalf-of token must name the agent as actor, carry stock:trade
 *                          and grant exactly the frozen order (decoded only: the MCP server
 *                          verifies the signature)
 *   7. executeOnBehalf   — buy_stock once with the on-behalf-of token; no model call in between;
 *                          the token is dropped afterwards whatever happens
 *
 * A step either hands its result to the next one or ends the run with an Outcome; `finish()`
 * records every ending the same way: the order's and the approval's status, one activity line,
 * one state transition. The loop around it (agent.ts) decides when a run starts; recovery.ts
 * decides what an interrupted run became.
 */

/**
 * What a step gets from the loop: the collaborators, the persisted state, and one way to change
 * it. A run has its own AbortSignal; once reset or stop aborts it, `transition` refuses, so an
 * aborted run can never write over the state the reset established.
 */
export interface AgentContext {
  config: AppConfig;
  db: Db;
  profile: IdentityServerProfile;
  tokens: AgentTokenSource;
  /** Alice's standing mandate, when she has granted one (small trades without a per-order approval). */
  standing?: StandingMandate;
  /** The agent's MCP client: its only way to the broker (/mcp). */
  mcp: McpClientPort;
  model: ModelChoice;
  signal: AbortSignal;
  now(): Date;
  /** Waits between CIBA polls; the real timer unless a test follows its own clock. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Calls `listener` when the identity server says in-process that this request was decided
   * (only the embedded server can); returns the unsubscribe.
   */
  onDecided(authReqId: string, listener: () => void): () => void;
  row(): AgentRow;
  transition(event: AgentEvent, patch?: AgentPatch): Promise<AgentRow>;
  /** Persists a change that is not a transition (token claims, arming), publishes it. */
  patch(patch: AgentPatch): Promise<AgentRow>;
  log(level: ActivityLevel, kind: string, message: string, data?: Record<string, unknown>): Promise<void>;
  /** Tells the dashboard that agent data changed (approval progress, tokens). */
  changed(reason: string): void;
}

type ClosedStatus = "failed" | "denied" | "expired";

/** How a run ends. */
export interface Outcome {
  /** The state-machine event that ends the run. */
  event: AgentEvent;
  /** Shown on the dashboard as the state's reason. */
  reason: string;
  /** The order this run is about; it becomes `orderStatus` (a closing never overwrites a trade). */
  orderId?: string;
  orderStatus?: "executed" | ClosedStatus;
  /** With `executed`: the trade, and the order's note (none by default). */
  tradeId?: number | null;
  orderNote?: string;
  /** The CIBA request this run waited for; it becomes `approvalStatus`. */
  authReqId?: string;
  approvalStatus?: "failed" | "denied" | "expired";
  /** The activity line that tells what happened. */
  line: { level: ActivityLevel; kind: string; message: string; data?: Record<string, unknown> };
  /** Alice is not asked again during this fall (the outcome of a step that may have reached the broker is unknown). */
  disarm?: boolean;
}

/** A step's result: the value the next step needs, or how the run ends. */
export type Step<T> = { ok: true; value: T } | { ok: false; outcome: Outcome };

const next = <T>(value: T): Step<T> => ({ ok: true, value });
const end = (outcome: Outcome): Step<never> => ({ ok: false, outcome });

/** Steps 1–7 for a price below the threshold. */
export async function runFlow(ctx: AgentContext, quote: Quote, mandate: Mandate): Promise<void> {
  await ctx.transition("price_below_threshold", { reason: null, orderId: null, oboTokenClaims: null });
  const proposal = await askModel(ctx, quote, mandate);
  if (!proposal.ok) return finish(ctx, proposal.outcome);
  const checked = await checkProposal(ctx, proposal.value, quote, mandate);
  if (!checked.ok) return finish(ctx, checked.outcome);
  const challenge = await tryWithAgentToken(ctx, checked.value);
  if (!challenge.ok) return finish(ctx, challenge.outcome);
  const { order, scope } = challenge.value;
  const standing = await tryUnderMandate(ctx, order);
  if (!standing.ok) return finish(ctx, standing.outcome);
  const approval = await requestApproval(ctx, order, scope);
  if (!approval.ok) return finish(ctx, approval.outcome);
  return awaitApprovalAndTrade(ctx, approval.value, order);
}

/** Steps 5–7 for a stored CIBA request (also after a restart). */
export async function awaitApprovalAndTrade(ctx: AgentContext, approval: ApprovalRecord, order: StockTradeDetail): Promise<void> {
  const decision = await awaitDecision(ctx, approval, order);
  if (!decision.ok) return finish(ctx, decision.outcome);
  const token = decision.value;
  const granted = await verifyGrant(ctx, approval, order, token);
  if (!granted.ok) return finish(ctx, granted.outcome);
  return finish(ctx, await executeOnBehalf(ctx, order, token));
}

// --- 1. askModel ---------------------------------------------------------------------------------

type RawProposal = { symbol?: unknown; quantity?: unknown; reason?: unknown };

async function askModel(ctx: AgentContext, quote: Quote, mandate: Mandate): Promise<Step<RawProposal>> {
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
      readPrice: (symbol) => ctx.mcp.getPrice(symbol, ctx.signal),
    });
  } catch (error) {
    ctx.signal.throwIfAborted();
    const reason = `the model failed: ${errorText(error)}`;
    return end({ event: "model_failed", reason, line: { level: "error", kind: "agent.model_failed", message: `No recommendation: ${reason}. No order; trying again after the cooldown.` } });
  }
  const [first, ...others] = result.proposals;
  if (!first && result.malformed.length) {
    // Refused like a proposal outside the mandate: the model tried to buy, in a form code cannot check.
    const message = `the model's propose_buy call was malformed: ${result.malformed[0]}`;
    return end({
      event: "proposal_refused",
      reason: `proposal refused (malformed_proposal): ${message}`,
      line: { level: "warn", kind: "agent.proposal_refused", message: `Model proposal refused: ${message}. No order.`, data: { code: "malformed_proposal" } },
    });
  }
  if (!first) {
    const reason = result.text ? `the model proposed no trade: ${result.text}` : "the model proposed no trade";
    return end({ event: "no_proposal", reason, line: { level: "info", kind: "agent.no_proposal", message: `${capitalize(reason)}.` } });
  }
  if (others.length) await ctx.log("warn", "agent.extra_proposals", `The model made ${result.proposals.length} proposals; only the first is considered.`);
  return next(first);
}

// --- 2. checkProposal ----------------------------------------------------------------------------

/** The order stays executable this long after the approval window closes (the trade itself). */
export const ORDER_EXECUTION_WINDOW_SECONDS = 60;
/** How much later than the agent's own reckoning the broker's expiry may fall (clock skew, the call's duration). */
const EXPIRY_SLACK_SECONDS = 30;

/** The proposal as code checked it against the mandate: what the agent asks the broker to trade. */
export interface CheckedProposal {
  raw: RawProposal;
  symbol: string;
  quantity: number;
  limitPriceCents: number;
  reason?: string;
  mandate: Mandate;
}

async function checkProposal(ctx: AgentContext, raw: RawProposal, quote: Quote, mandate: Mandate): Promise<Step<CheckedProposal>> {
  const { config } = ctx;
  const limit = limitPriceCents(quote.priceCents, config.agent.limitToleranceBps);
  const check = validateProposal(raw, mandate, quote.priceCents, limit);
  if (!check.ok) {
    return end({
      event: "proposal_refused",
      reason: `proposal refused (${check.code}): ${check.message}`,
      line: { level: "warn", kind: "agent.proposal_refused", message: `Model proposal refused by the mandate check: ${check.message}. No order.`, data: { code: check.code } },
    });
  }
  const p = check.proposal;
  await ctx.log("info", "agent.recommendation", `Model recommends: buy ${printQuantity(raw.quantity)} ${p.symbol}${p.reason ? ` — ${p.reason}` : ""}`);
  if (p.clipped) await ctx.log("warn", "agent.proposal_clipped", `Proposal clipped by the mandate: ${p.clipped}`);
  return next({ raw, symbol: p.symbol, quantity: p.quantity, limitPriceCents: p.limitPriceCents, reason: p.reason, mandate });
}

// --- 3. tryWithAgentToken ------------------------------------------------------------------------

/**
 * buy_stock with the agent token and no order: the broker answers 403 `insufficient_authorization`
 * naming the order it froze (mcp/transaction-challenge.ts). The agent takes that order only when it
 * is exactly the proposal its mandate check passed (challengedMatchesProposal), records it, and
 * resolves to it with the scope the challenge named; the order id is the broker's.
 */
async function tryWithAgentToken(ctx: AgentContext, proposal: CheckedProposal): Promise<Step<{ order: StockTradeDetail; scope: string }>> {
  const agentToken = await ctx.tokens.current();
  let outcome;
  try {
    // The agent's token names the agent: for any investor but the first, the broker is told whose order it is.
    const forInvestor = ctx.config.investor.userId === ctx.config.investors[0]?.userId ? {} : { investor: ctx.config.investor.userId };
    outcome = await ctx.mcp.trade("buy", { symbol: proposal.symbol, quantity: proposal.quantity, limit_price: formatMoney(proposal.limitPriceCents), ...forInvestor }, agentToken, ctx.signal);
  } catch (error) {
    ctx.signal.throwIfAborted();
    return end(noOrder("trade_failed", `buy_stock with the agent token failed: ${errorText(error)}`));
  }
  if (outcome.kind === "authorization_required") {
    const scope = outcome.scope ?? SCOPE_TRADE;
    const latestExpiry = new Date(ctx.now().getTime() + (ctx.config.agent.approvalExpirySeconds + ORDER_EXECUTION_WINDOW_SECONDS + EXPIRY_SLACK_SECONDS) * 1000);
    const accepted = challengedMatchesProposal(
      outcome.authorizationDetails,
      { symbol: proposal.symbol, side: "buy", quantity: proposal.quantity, limitPriceCents: proposal.limitPriceCents, maxNotionalCents: proposal.mandate.budgetCents, latestExpiry },
      ctx.now(),
    );
    if (!accepted.ok) return end(await challengeRefused(ctx, outcome.authorizationDetails, accepted.message));
    await ctx.log(
      "warn",
      "agent.transaction_challenge",
      `Broker refused buy_stock with the agent token: HTTP 403 insufficient_authorization, needs ${scope} and ${ctx.config.investor.name}'s approval of order ${accepted.order.order_id}. Asking her to approve it.`,
      { scope, orderId: accepted.order.order_id },
    );
    return next({ order: await recordOrder(ctx, accepted.order, proposal), scope });
  }
  if (outcome.kind === "insufficient_scope") {
    return end(noOrder("trade_refused", `the broker answered insufficient_scope (${outcome.scope ?? "?"}) without naming the order to approve`));
  }
  if (outcome.kind === "refused") return end(noOrder("trade_refused", `the broker refused the order: ${outcome.code}: ${outcome.message}`));
  // A broker that lets an agent token trade is misconfigured: the agent has no order for that
  // trade, says so, and proposes nothing more during this fall.
  return end({
    event: "trade_refused",
    reason: `the broker executed a trade with the agent's own token (trade ${outcome.tradeId}) instead of naming the order to approve`,
    line: { level: "error", kind: "agent.trade", message: `The broker executed a trade with the agent's own token (trade ${outcome.tradeId}); it should have required ${ctx.config.investor.name}'s approval.` },
    disarm: true,
  });
}

/** The broker's order, as accepted, becomes the agent's order: stored with its audit record, then the state moves on. */
async function recordOrder(ctx: AgentContext, order: StockTradeDetail, proposal: CheckedProposal): Promise<StockTradeDetail> {
  await ctx.db.transaction(async (tx) => {
    await insertOrder(tx, order, ctx.config.investor.userId, { symbol: proposal.raw.symbol, quantity: proposal.raw.quantity, reason: proposal.reason });
    await auditAgentDecision(ctx, order.order_id, {
      event: "order.frozen",
      decision: "frozen",
      reason: `named by the broker's transaction challenge and matching the proposal: buy ${order.quantity} ${order.symbol}, limit ${order.limit_price} USD, max ${order.max_notional} USD, expires ${order.expires_at}`,
    }, tx);
  });
  await ctx.log(
    "info",
    "agent.order",
    `Order frozen by the broker: buy ${order.quantity} ${order.symbol}, limit ${order.limit_price} USD, max ${order.max_notional} USD, expires ${time(order.expires_at)} (${order.order_id})`,
    { orderId: order.order_id },
  );
  await ctx.transition("order_frozen", { orderId: order.order_id });
  return order;
}

/** The broker named another order than the proposal: recorded, and nobody is asked to approve it. */
async function challengeRefused(ctx: AgentContext, details: unknown, why: string): Promise<Outcome> {
  const named = Array.isArray(details) ? (details[0] as { order_id?: unknown } | undefined)?.order_id : undefined;
  const orderId = typeof named === "string" && named.length <= 64 ? named : "unknown";
  await auditAgentDecision(ctx, orderId, { event: "challenge.rejected", decision: "rejected", reason: why });
  return {
    event: "trade_refused",
    reason: `the broker's transaction challenge does not match the proposal: ${why}`,
    line: {
      level: "error",
      kind: "agent.challenge_mismatch",
      message: `No trade: the broker named another order than the proposal (${why}). ${ctx.config.investor.name} is not asked to approve it.`,
      data: { orderId: named === orderId ? orderId : null },
    },
  };
}

/** A run that ends before any order was recorded. */
function noOrder(event: AgentEvent, reason: string): Outcome {
  return { event, reason, line: { level: "error", kind: "agent.failed", message: `No trade: ${reason.replace(/\.$/, "")}.` } };
}

// --- 3b. tryUnderMandate -----------------------------------------------------------------------

/**
 * An order that fits Alice's standing mandate is tried with a token drawn from the mandate's grant,
 * without asking her. The resource server decides (per trade, per day, still granted); when it
 * refuses under the mandate (`mandate_*`, e.g. the day's amount is spent), the run goes on to ask
 * her for this exact order, as it would without a mandate.
 */
async function tryUnderMandate(ctx: AgentContext, order: StockTradeDetail): Promise<Step<void>> {
  if (!ctx.standing?.covers(order, ctx.now())) return next(undefined);
  let outcome;
  try {
    outcome = await ctx.mcp.trade("buy", tradeArgs(order), await ctx.standing.draw(), ctx.signal);
  } catch (error) {
    ctx.signal.throwIfAborted();
    await ctx.log("warn", "agent.mandate", `Could not trade under the standing mandate (${errorText(error)}); asking ${ctx.config.investor.name} instead.`);
    return next(undefined);
  }
  if (outcome.kind === "refused" && outcome.code.startsWith("mandate_")) {
    await ctx.log("info", "agent.mandate", `Order ${order.order_id} is outside the standing mandate (${outcome.code}); asking ${ctx.config.investor.name} to approve it.`, {
      orderId: order.order_id,
      code: outcome.code,
    });
    return next(undefined);
  }
  if (outcome.kind !== "executed") {
    const why = outcome.kind === "refused" ? `${outcome.code}: ${outcome.message}` : "insufficient_scope";
    return end(failed(order, "trade_refused", `the broker refused the order under the standing mandate: ${why}`));
  }
  const price = outcome.priceCents !== null ? ` at ${formatMoney(outcome.priceCents)} USD` : "";
  return end({
    event: "trade_executed",
    reason: `bought ${outcome.quantity} ${order.symbol}${price} under the standing mandate`,
    orderId: order.order_id,
    orderStatus: "executed",
    tradeId: outcome.tradeId,
    orderNote: "executed under the standing mandate",
    line: {
      level: "success",
      kind: "agent.trade",
      message: `Trade executed under ${ctx.config.investor.name}'s standing mandate: bought ${outcome.quantity} ${order.symbol}${price} (trade ${outcome.tradeId}, order ${order.order_id}), no approval asked.`,
      data: { orderId: order.order_id, tradeId: outcome.tradeId, mandate: true },
    },
  });
}

// --- 4. requestApproval --------------------------------------------------------------------------

async function requestApproval(ctx: AgentContext, order: StockTradeDetail, scope: string): Promise<Step<ApprovalRecord>> {
  const { config } = ctx;
  const bindingMessage = deriveBindingMessage(order);
  const agentToken = await ctx.tokens.current();
  let ack;
  try {
    ack = await ctx.profile.startCiba({ order, bindingMessage, actorToken: agentToken.accessToken, requestedExpirySeconds: config.agent.approvalExpirySeconds });
  } catch (error) {
    ctx.signal.throwIfAborted();
    const why = error instanceof ProtocolError ? (error.retryable ? `identity server unreachable (${error.description})` : error.message) : errorText(error);
    return end(failed(order, "approval_request_failed", `the CIBA request was not accepted: ${why}`));
  }
  // Stored before polling starts: a restart from here on resumes polling this request.
  const poll = startPollState(ack, ctx.now());
  const approval: ApprovalRecord = {
    authReqId: ack.authReqId,
    orderId: order.order_id,
    bindingMessage,
    status: "pending",
    intervalSeconds: poll.intervalSeconds,
    expiresAt: poll.expiresAt,
    nextPollAt: poll.nextPollAt,
    consecutiveFailures: 0,
    lastError: null,
    createdAt: ctx.now(),
    decidedAt: null,
  };
  await ctx.db.transaction(async (tx) => {
    await insertApproval(tx, approval);
    const reason = `binding_message "${bindingMessage}", scope ${scope}, expires in ${ack.expiresIn} s`;
    await auditAgentDecision(ctx, order.order_id, { event: "ciba.requested", decision: "requested", reason }, tx);
  });
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
  return next(approval);
}

// --- 5. awaitDecision ----------------------------------------------------------------------------

/** Resolves to the on-behalf-of token once Alice approved; any other decision ends the run. */
async function awaitDecision(ctx: AgentContext, approval: ApprovalRecord, order: StockTradeDetail): Promise<Step<TokenResult>> {
  const final = await pollCiba(ctx, approval);
  const investor = ctx.config.investor.name;
  await auditAgentDecision(ctx, order.order_id, pollAnswer(final));
  switch (final.kind) {
    case "approved":
      return next(final.token);
    case "denied":
      return end(decided(ctx, approval, order, "denied", final.alsoMeans === "failed_sign_in" ? deniedOrFailedSignIn(investor, final) : `${investor} denied the request`));
    case "expired":
      return end(decided(ctx, approval, order, "expired", `the request expired before ${investor} decided`));
    case "invalid":
      return end(decided(ctx, approval, order, "failed", `the identity server ended the request: ${final.error}${final.description ? ` (${final.description})` : ""}`));
  }
}

/** The poll's final answer as the agent's audit record (the token itself only by its jti, later). */
function pollAnswer(final: CibaFinal): AgentAuditEvent {
  switch (final.kind) {
    case "approved":
      return { event: "ciba.approved", decision: "approved", reason: "the token endpoint issued a token" };
    case "denied":
      return { event: "ciba.denied", decision: "denied", reason: `the token endpoint answered ${final.error}` };
    case "expired":
      return { event: "ciba.expired", decision: "expired", reason: `the token endpoint answered ${final.error}` };
    case "invalid":
      return { event: "ciba.failed", decision: "failed", reason: `the token endpoint answered ${final.error}` };
  }
}

/**
 * A denial the server cannot tell from a failed sign-in (WSO2 answers a denied consent, a sign-in
 * as another user and a failed sign-in alike): say what it may mean, not that the user said no.
 */
function deniedOrFailedSignIn(investor: string, final: { error: string; description?: string }): string {
  const answer = final.description ? `${final.error} ("${final.description}")` : final.error;
  return `the identity server ended the request with ${answer}: ${investor} denied it, or the approver signed in as another user than ${investor}, or the sign-in failed (the server answers all three the same way)`;
}

function pollCiba(ctx: AgentContext, approval: ApprovalRecord): Promise<CibaFinal> {
  let unreachableSince: Date | undefined;
  const state: CibaPollState = {
    authReqId: approval.authReqId,
    intervalSeconds: approval.intervalSeconds,
    expiresAt: approval.expiresAt,
    nextPollAt: approval.nextPollAt,
    failures: approval.consecutiveFailures,
  };
  // Alice's decision cuts the wait short: the next poll goes out at once and fetches the token
  // over HTTP as any poll does. Without such a notice (WSO2, Auth0) the wait is the interval.
  let decided = false;
  let wake: (() => void) | undefined;
  const unsubscribe = ctx.onDecided(approval.authReqId, () => {
    decided = true;
    wake?.();
  });
  const sleep = ctx.sleep ?? abortableSleep;
  const waitForNextPoll = async (ms: number, signal?: AbortSignal): Promise<void> => {
    const cut = new AbortController();
    const onAbort = () => cut.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    wake = () => cut.abort("decided");
    try {
      if (!decided) await sleep(ms, cut.signal);
    } catch (error) {
      if (!decided || signal?.aborted) throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      wake = undefined;
      decided = false;
    }
  };
  return pollUntilDecided(state, {
    signal: ctx.signal,
    now: () => ctx.now(),
    sleep: waitForNextPoll,
    poll: async (id) => {
      const outcome = await ctx.profile.pollCiba(id);
      if (outcome.kind !== "unreachable" && unreachableSince) {
        unreachableSince = undefined;
        await ctx.log("info", "agent.idp_back", "The identity server is reachable again; the approval request is still alive.");
      }
      return outcome;
    },
    onProgress: async (next, outcome) => {
      const lastError = outcome.kind === "unreachable" ? outcome.message : outcome.kind === "slow_down" ? "slow_down" : null;
      await updateApprovalPolling(ctx.db, next.authReqId, { intervalSeconds: next.intervalSeconds, nextPollAt: next.nextPollAt, consecutiveFailures: next.failures, lastError });
      const wait = Math.round((next.nextPollAt.getTime() - ctx.now().getTime()) / 1000);
      if (outcome.kind === "slow_down") {
        await ctx.log("warn", "agent.slow_down", `The identity server asked to slow down: polling every ${next.intervalSeconds} s from now on.`);
        ctx.changed("slow_down");
      } else if (outcome.kind === "unreachable") {
        if (!unreachableSince) {
          unreachableSince = ctx.now();
          await ctx.log("warn", "agent.idp_unreachable", `The identity server is unreachable (${outcome.message}); keeping the approval request and retrying in ${wait} s.`);
        }
        ctx.changed("idp_unreachable");
      }
    },
  }).finally(unsubscribe);
}

/** Alice said no, the request expired, or the identity server ended it. */
function decided(ctx: AgentContext, approval: ApprovalRecord, order: StockTradeDetail, status: "denied" | "expired" | "failed", reason: string): Outcome {
  return {
    event: status === "denied" ? "denied" : status === "expired" ? "expired" : "approval_failed",
    reason,
    orderId: order.order_id,
    orderStatus: status,
    authReqId: approval.authReqId,
    approvalStatus: status,
    line: {
      level: status === "failed" ? "error" : "warn",
      kind: `agent.${status}`,
      message: `No trade: ${reason}. Order ${order.order_id} is closed; the agent keeps monitoring and waits ${ctx.config.agent.cooldownSeconds} s before proposing again.`,
      data: { orderId: order.order_id },
    },
  };
}

// --- 6. verifyGrant ------------------------------------------------------------------------------

async function verifyGrant(ctx: AgentContext, approval: ApprovalRecord, order: StockTradeDetail, token: TokenResult): Promise<Step<TokenResult>> {
  const { config, profile } = ctx;
  // The jti is recorded first: the "recorded-approval" broker rule accepts only this token.
  await recordApprovedToken(ctx.db, approval.authReqId, typeof token.claims.jti === "string" ? token.claims.jti : null);
  await ctx.log("success", "agent.approved", `${config.investor.name} approved the request "${approval.bindingMessage}".`, { orderId: order.order_id });

  const mismatch = grantMismatch(ctx, token, order);
  await auditAgentDecision(ctx, order.order_id, {
    event: "token.received",
    decision: mismatch ? "rejected" : "accepted",
    reason: mismatch ?? "the on-behalf-of token grants the frozen order",
    jti: typeof token.claims.jti === "string" ? token.claims.jti : null,
    scopes: token.scopes.join(" "),
    sub: typeof token.claims.sub === "string" ? token.claims.sub : null,
    act: token.claims.act ?? (profile.readActor(token.claims) ? { sub: profile.readActor(token.claims) } : null),
  });
  if (mismatch) {
    return end({
      event: "approval_failed",
      reason: mismatch,
      orderId: order.order_id,
      orderStatus: "failed",
      line: { level: "error", kind: "agent.grant_mismatch", message: `The on-behalf-of token does not match the order: ${mismatch}. Not trading with it.`, data: { orderId: order.order_id } },
    });
  }
  const actor = profile.readActor(token.claims);
  await setOrderStatus(ctx.db, order.order_id, "approved");
  await ctx.transition("approved", { oboTokenClaims: token.claims });
  await ctx.log(
    "success",
    "agent.obo_token",
    `On-behalf-of token obtained: sub ${token.claims.sub}, act.sub ${actor}, scope ${token.scopes.join(" ")}, order ${order.order_id}, expires ${time(token.expiresAt.toISOString())}`,
    { sub: token.claims.sub ?? null, actor: actor ?? null, scope: token.scopes.join(" "), orderId: order.order_id },
  );
  return next(token);
}

/** Why the on-behalf-of token must not be used for this order, or undefined when it may. */
function grantMismatch(ctx: AgentContext, token: TokenResult, order: StockTradeDetail): string | undefined {
  const { config, profile } = ctx;
  const scopes = token.scopes.length ? token.scopes : scopesOf(token.claims.scope);
  if (!scopes.includes(SCOPE_TRADE)) return `the token lacks ${SCOPE_TRADE} (it has ${scopes.join(" ") || "no scope"})`;
  const actor = profile.readActor(token.claims);
  if (actor !== config.agent.id) return `the token's actor is ${actor ?? "missing"}, not ${config.agent.id}`;
  if (!token.claims.sub || token.claims.sub === config.agent.id) return "the token's subject is not a user";
  const details = profile.readGrantedOrder(token);
  // Where the server cannot issue authorization_details (WSO2), the broker's "recorded-approval"
  // rule binds the trade to this order's approval and to this token, by the jti recorded with it.
  if (config.auth.binding === "recorded-approval") {
    if (!token.claims.jti) return "the token has no jti, so it cannot be bound to the approval";
    if (details === undefined) return undefined;
  }
  const granted = grantedMatchesOrder(details, order);
  return granted.ok ? undefined : granted.message;
}

// --- 7. executeOnBehalf --------------------------------------------------------------------------

async function executeOnBehalf(ctx: AgentContext, order: StockTradeDetail, oboToken: TokenResult): Promise<Outcome> {
  let outcome;
  try {
    outcome = await ctx.mcp.trade("buy", tradeArgs(order), oboToken, ctx.signal);
  } catch (error) {
    ctx.signal.throwIfAborted();
    // The call may or may not have reached the broker; the token is gone either way, so a new
    // attempt would need a new approval, and the order id can only ever execute once. Alice is
    // not asked again during this fall; a trade that did land is found in the ledger (finish).
    return { ...failed(order, "trade_failed", `buy_stock with the on-behalf-of token failed (${errorText(error)}); check the trade history`), disarm: true };
  }
  if (outcome.kind === "executed") {
    const price = outcome.priceCents !== null ? ` at ${formatMoney(outcome.priceCents)} USD` : "";
    return {
      event: "trade_executed",
      reason: `bought ${outcome.quantity} ${order.symbol}${price}`,
      orderId: order.order_id,
      orderStatus: "executed",
      tradeId: outcome.tradeId,
      line: {
        level: "success",
        kind: "agent.trade",
        message: `Trade executed for ${ctx.config.investor.name}: bought ${outcome.quantity} ${order.symbol}${price} (trade ${outcome.tradeId}, order ${order.order_id}). On-behalf-of token discarded.`,
        data: { orderId: order.order_id, tradeId: outcome.tradeId },
      },
    };
  }
  const why = outcome.kind === "refused" ? `${outcome.code}: ${outcome.message}` : `insufficient_scope (${outcome.scope ?? "?"})`;
  return failed(order, "trade_refused", `the broker refused the approved order: ${why}`);
}

// --- endings -------------------------------------------------------------------------------------

/** A run that ends without a trade for its order: FAILED, the order closed, a cooldown. */
export function failed(order: { order_id: string }, event: AgentEvent, reason: string): Outcome {
  return {
    event,
    reason,
    orderId: order.order_id,
    orderStatus: "failed",
    line: { level: "error", kind: "agent.failed", message: `No trade: ${reason.replace(/\.$/, "")}.`, data: { orderId: order.order_id } },
  };
}

/** The ledger holds a trade for the order: the run is DONE, whatever the agent remembered. */
export function tradeFound(orderId: string, trade: LedgerTrade, cause: string, data: Record<string, unknown> = {}): Outcome {
  const verb = trade.side === "buy" ? "bought" : "sold";
  const reason = `${verb} ${trade.quantity} ${trade.symbol} at ${formatMoney(trade.priceCents)} USD (trade ${trade.id}, read from the ledger)`;
  return {
    event: "trade_found",
    reason,
    orderId,
    orderStatus: "executed",
    tradeId: trade.id,
    orderNote: `trade ${trade.id} found in the ledger`,
    line: {
      level: "success",
      kind: "agent.recovered",
      message: `${cause}: ${reason}. Recorded as done; no new order until ${trade.symbol} is back above the threshold.`,
      data: { orderId, tradeId: trade.id, ...data },
    },
  };
}

/**
 * Records how a run ended: the order's status (a closing never overwrites a trade: when the
 * ledger holds one for the order, the trade is recorded instead), the approval's status, one
 * activity line, one transition. A trade ends the fall (the agent is disarmed until the price is
 * back above the threshold); any other ending starts a cooldown.
 */
export async function finish(ctx: AgentContext, outcome: Outcome): Promise<void> {
  ctx.signal.throwIfAborted();
  const trade = await recordOrderStatus(ctx, outcome);
  if (trade) return finish(ctx, tradeFound(trade.orderId, trade, `The broker executed order ${trade.orderId} although the agent saw the run end (${outcome.event})`));
  if (outcome.authReqId && outcome.approvalStatus) {
    await setApprovalStatus(ctx.db, outcome.authReqId, outcome.approvalStatus, outcome.approvalStatus === "failed" ? outcome.reason : null);
  }
  const { level, kind, message, data } = outcome.line;
  await ctx.log(level, kind, message, data);
  const traded = outcome.event === "trade_executed" || outcome.event === "trade_found";
  await ctx.transition(outcome.event, traded ? { reason: outcome.reason, armed: false, cooldownUntil: null } : { reason: outcome.reason, cooldownUntil: cooldown(ctx), ...(outcome.disarm ? { armed: false } : {}) });
}

/** Gives the order the outcome's status; returns the ledger's trade when a closing found one. */
async function recordOrderStatus(ctx: AgentContext, { orderId, orderStatus, orderNote, tradeId, reason }: Outcome): Promise<(LedgerTrade & { orderId: string }) | undefined> {
  if (!orderId || !orderStatus) return undefined;
  if (orderStatus === "executed") {
    await setOrderStatus(ctx.db, orderId, "executed", orderNote ?? null, tradeId ?? null);
    return undefined;
  }
  if (await closeOrderUnlessTraded(ctx.db, orderId, orderStatus, reason)) return undefined;
  const trade = await findTradeForOrder(ctx.db, orderId);
  return trade && { ...trade, orderId };
}

// --- small helpers -------------------------------------------------------------------------------

export function tradeArgs(order: StockTradeDetail) {
  return { symbol: order.symbol, quantity: order.quantity, order_id: order.order_id };
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
