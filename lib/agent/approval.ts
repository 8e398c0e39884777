import "server-only";
import { pollUntilDecided, type CibaFinal, type CibaPollState } from "../auth/ciba-poller";
import { scopesOf } from "../auth/claims";
import type { TokenResult } from "../auth/providers/types";
import { formatMoney } from "../money";
import type { StockTradeDetail } from "../orders/order";
import type { AgentContext } from "./context";
import { grantedMatchesOrder } from "./order";
import { getOrder, recordApprovedToken, setApprovalStatus, setOrderStatus, updateApprovalPolling, type ApprovalRecord } from "./repository";
import { cooldown, errorText, fail, time, tradeArgs } from "./steps";

/**
 * From a pending CIBA request to the trade, as named steps:
 *
 *   5. awaitDecision   — poll the token endpoint at the server's pace (stored after every poll,
 *                        so a restart resumes the same request)
 *   6. verifyGrant     — the OBO token must name the agent as actor, carry stock:trade and
 *                        grant exactly the frozen order (decoded only: the MCP server verifies
 *                        the signature)
 *   7. executeOnBehalf — buy_stock once with the OBO token; no model call in between; the token
 *                        is dropped afterwards whatever happens
 */
export async function awaitApprovalAndExecute(ctx: AgentContext, approval: ApprovalRecord): Promise<void> {
  const order = (await getOrder(ctx.db, approval.orderId))?.detail;
  if (!order) {
    await setApprovalStatus(ctx.db, approval.authReqId, "failed", "order record missing");
    await ctx.transition("approval_failed", { reason: "the order of the pending approval is missing", cooldownUntil: cooldown(ctx) });
    return;
  }
  const final = await awaitDecision(ctx, approval);
  switch (final.kind) {
    case "approved":
      return verifyAndExecute(ctx, approval, order, final.token);
    case "denied":
      return settle(ctx, approval, order, "denied", `${ctx.config.investor.name} denied the request`);
    case "expired":
      return settle(ctx, approval, order, "expired", `the request expired before ${ctx.config.investor.name} decided`);
    case "invalid":
      return settle(ctx, approval, order, "failed", `the identity server ended the request: ${final.error}${final.description ? ` (${final.description})` : ""}`);
  }
}

async function awaitDecision(ctx: AgentContext, approval: ApprovalRecord): Promise<CibaFinal> {
  let unreachableSince: Date | undefined;
  const state: CibaPollState = {
    authReqId: approval.authReqId,
    intervalSeconds: approval.intervalSeconds,
    expiresAt: approval.expiresAt,
    nextPollAt: approval.nextPollAt,
    failures: approval.consecutiveFailures,
  };
  return pollUntilDecided(state, {
    signal: ctx.signal,
    now: () => ctx.now(),
    sleep: ctx.sleep,
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
  });
}

async function verifyAndExecute(ctx: AgentContext, approval: ApprovalRecord, order: StockTradeDetail, token: TokenResult): Promise<void> {
  const { config, profile } = ctx;
  await recordApprovedToken(ctx.db, approval.authReqId, typeof token.claims.jti === "string" ? token.claims.jti : null);
  await ctx.log("success", "agent.approved", `${config.investor.name} approved the request "${approval.bindingMessage}".`, { orderId: order.order_id });

  const problem = verifyGrant(ctx, token, order);
  if (problem) {
    await setOrderStatus(ctx.db, order.order_id, "failed", problem);
    await ctx.log("error", "agent.grant_mismatch", `The on-behalf-of token does not match the order: ${problem}. Not trading with it.`, { orderId: order.order_id });
    await ctx.transition("approval_failed", { reason: problem, cooldownUntil: cooldown(ctx) });
    return;
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
  await executeOnBehalf(ctx, order, token);
}

/** Why the OBO token must not be used for this order, or undefined when it may. */
function verifyGrant(ctx: AgentContext, token: TokenResult, order: StockTradeDetail): string | undefined {
  const { config, profile } = ctx;
  const scopes = token.scopes.length ? token.scopes : scopesOf(token.claims.scope);
  if (!scopes.includes("stock:trade")) return `the token lacks stock:trade (it has ${scopes.join(" ") || "no scope"})`;
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
  return granted.ok ? undefined : granted.reason;
}

async function executeOnBehalf(ctx: AgentContext, order: StockTradeDetail, oboToken: TokenResult): Promise<void> {
  const { config } = ctx;
  let outcome;
  try {
    outcome = await ctx.broker.trade("buy", tradeArgs(order), oboToken, ctx.signal);
  } catch (error) {
    ctx.signal.throwIfAborted();
    // The call may or may not have reached the broker; the token is gone either way, so a new
    // attempt would need a new approval, and the order id can only ever execute once. Alice is
    // not asked again during this fall; a trade that did land is read from the ledger before
    // the run rests (recovery.ts).
    return fail(ctx, order, "trade_failed", `buy_stock with the on-behalf-of token failed (${errorText(error)}); check the trade history`, { disarm: true });
  }
  if (outcome.kind === "executed") {
    await setOrderStatus(ctx.db, order.order_id, "executed", null, outcome.tradeId);
    const price = outcome.priceCents !== null ? ` at ${formatMoney(outcome.priceCents)} USD` : "";
    await ctx.log("success", "agent.trade", `Trade executed for ${config.investor.name}: bought ${outcome.quantity} ${order.symbol}${price} (trade ${outcome.tradeId}, order ${order.order_id}). On-behalf-of token discarded.`, {
      orderId: order.order_id,
      tradeId: outcome.tradeId,
    });
    await ctx.transition("trade_executed", { reason: `bought ${outcome.quantity} ${order.symbol}${price}`, armed: false });
    return;
  }
  const why = outcome.kind === "refused" ? `${outcome.code}: ${outcome.message}` : `insufficient_scope (${outcome.scope ?? "?"})`;
  return fail(ctx, order, "trade_refused", `the broker refused the approved order: ${why}`);
}

async function settle(ctx: AgentContext, approval: ApprovalRecord, order: StockTradeDetail, status: "denied" | "expired" | "failed", reason: string): Promise<void> {
  await setApprovalStatus(ctx.db, approval.authReqId, status, status === "failed" ? reason : null);
  await setOrderStatus(ctx.db, order.order_id, status, reason);
  const level = status === "failed" ? "error" : "warn";
  await ctx.log(level, `agent.${status}`, `No trade: ${reason}. Order ${order.order_id} is closed; the agent keeps monitoring and waits ${ctx.config.agent.cooldownSeconds} s before proposing again.`, {
    orderId: order.order_id,
  });
  const event = status === "denied" ? "denied" : status === "expired" ? "expired" : "approval_failed";
  await ctx.transition(event, { reason, cooldownUntil: cooldown(ctx) });
}
