import "server-only";
import { addMandateSpend, mandateSpentOn } from "../lib/ledger/mandate-spend";
import { formatMoney } from "../lib/money";
import { mandateDay, mandateDetailProblem, mandateEntries, mandateFromDetail, sameTerms, StockTradeMandateDetail, type Mandate } from "../lib/standing-mandate/mandate";
import { stockTradeEntries } from "../lib/orders/order";
import type { Principal } from "../lib/protected-resource/principal";
import type { Queryable } from "../lib/store/db";
import { lockMandate } from "../lib/store/standing-mandates";

/**
 * A trade under Alice's standing mandate (lib/standing-mandate/mandate.ts), as the resource server decides
 * it. The token says what Alice granted (`authorization_details` of type `stock_trade_mandate`,
 * signed by the authorization server); the store says whether that grant still stands and what it
 * has spent today. Two steps:
 *
 * 1. checkTradeAgainstMandate, before anything is read: the token carries exactly one valid
 *    mandate and nothing else, an actor (`act.sub`), and the trade is a buy of the mandate's symbol
 *    within its per-trade amount at the current price, before it expires. A trade above the
 *    per-trade amount is refused here and needs a per-order approval (CIBA) instead.
 * 2. authorizeUnderMandate, inside the trade's transaction: the mandate row is locked, must be
 *    Alice's, granted to this actor, unrevoked, unexpired and name the same terms as the token;
 *    the day's spend plus this trade must stay within the daily amount, and is added before the
 *    transaction commits. The lock makes concurrent trades under one mandate take turns.
 *
 * Any doubt means no trade; a refusal changes nothing (the transaction rolls back).
 */
export type MandateCode =
  | "invalid_authorization_details"
  | "actor_required"
  | "mandate_not_granted"
  | "mandate_revoked"
  | "mandate_expired"
  | "mandate_symbol_mismatch"
  | "mandate_side_not_allowed"
  | "mandate_per_trade_exceeded"
  | "mandate_daily_limit_exceeded";

export type MandateRefusal = { ok: false; code: MandateCode; message: string };

/** True when the token's `authorization_details` name a mandate (valid or not): the trade is judged under it. */
export function carriesMandate(details: readonly unknown[] | undefined): boolean {
  return details !== undefined && mandateEntries(details).length > 0;
}

export function checkTradeAgainstMandate(
  principal: Principal,
  trade: { symbol: string; side: "buy" | "sell"; quantity: number },
  priceCents: number,
  now: Date,
): { ok: true; mandate: Mandate; notionalCents: number } | MandateRefusal {
  const details = principal.authorizationDetails ?? [];
  const entries = mandateEntries(details);
  if (entries.length !== 1 || stockTradeEntries(details).length > 0) {
    return refusal("invalid_authorization_details", "A mandate token must carry exactly one stock_trade_mandate and no order.");
  }
  const problem = mandateDetailProblem(entries[0]);
  if (problem) return refusal("invalid_authorization_details", problem);
  const mandate = mandateFromDetail(StockTradeMandateDetail.parse(entries[0]));
  if (!principal.actor) return refusal("actor_required", "A mandate lets an agent act for the user: the token must name the actor (act.sub).");
  if (mandate.expiresAt.getTime() <= now.getTime()) return refusal("mandate_expired", `Mandate ${mandate.mandateId} expired at ${mandate.expiresAt.toISOString()}.`);
  if (trade.side !== "buy") return refusal("mandate_side_not_allowed", "A mandate only buys; a sale needs the user's approval of the order.");
  if (trade.symbol !== mandate.symbol) {
    return refusal("mandate_symbol_mismatch", `Mandate ${mandate.mandateId} is for ${mandate.symbol}, not ${trade.symbol}.`);
  }
  const notionalCents = priceCents * trade.quantity;
  if (notionalCents > mandate.maxPerTradeCents) {
    return refusal(
      "mandate_per_trade_exceeded",
      `The trade's ${formatMoney(notionalCents)} USD is above the mandate's ${formatMoney(mandate.maxPerTradeCents)} USD per trade: it needs the user's approval of the order.`,
    );
  }
  return { ok: true, mandate, notionalCents };
}

export async function authorizeUnderMandate(
  tx: Queryable,
  principal: Principal,
  mandate: Mandate,
  notionalCents: number,
  now: Date,
): Promise<{ ok: true; spentTodayCents: number } | MandateRefusal> {
  const record = await lockMandate(tx, mandate.mandateId);
  if (!record || record.userSub !== principal.sub || record.agentSub !== principal.actor) {
    return refusal("mandate_not_granted", `No mandate ${mandate.mandateId} is recorded for this user and agent.`);
  }
  if (record.status === "revoked") return refusal("mandate_revoked", `Mandate ${mandate.mandateId} was revoked by the user.`);
  if (record.status !== "granted") return refusal("mandate_not_granted", `Mandate ${mandate.mandateId} has not been granted.`);
  if (!sameTerms(record, mandate)) return refusal("mandate_not_granted", `The token's terms differ from mandate ${mandate.mandateId} as granted.`);
  if (record.expiresAt.getTime() <= now.getTime()) return refusal("mandate_expired", `Mandate ${mandate.mandateId} has expired.`);

  const day = mandateDay(now);
  const spent = await mandateSpentOn(tx, mandate.mandateId, day);
  if (spent + notionalCents > record.maxPerDayCents) {
    return refusal(
      "mandate_daily_limit_exceeded",
      `Mandate ${mandate.mandateId} has spent ${formatMoney(spent)} of ${formatMoney(record.maxPerDayCents)} USD today; ${formatMoney(notionalCents)} USD more needs the user's approval of the order.`,
    );
  }
  await addMandateSpend(tx, mandate.mandateId, day, notionalCents);
  return { ok: true, spentTodayCents: spent + notionalCents };
}

const refusal = (code: MandateCode, message: string): MandateRefusal => ({ ok: false, code, message });
