import { z } from "zod";
import { failure, type Failure } from "../errors";
import { formatMoney, parseMoney } from "../money";

/**
 * Alice's mandate: what the agent may propose without her (nothing is executed without her
 * approval anyway). Code, not the model, holds the model's proposal against it.
 */
export interface Mandate {
  symbol: string;
  thresholdCents: number;
  budgetCents: number;
  maxQuantity: number;
}

/** A proposal exactly as the model produced it: every field untrusted, any type. */
export interface RawProposal {
  symbol?: unknown;
  quantity?: unknown;
  reason?: unknown;
}

export interface ValidProposal {
  symbol: string;
  quantity: number;
  limitPriceCents: number;
  reason: string;
  /** Why the quantity was lowered, when it was (a proposal over budget or over the maximum). */
  clipped?: string;
}

export type ProposalCheck = { ok: true; proposal: ValidProposal } | Failure;

const MAX_REASON = 240;

/**
 * Validates a model proposal against the mandate at the current price. Refused: another symbol,
 * a quantity that is not a positive whole number, a price not below the threshold, a budget that
 * buys no share. Clipped: a quantity above what the budget buys at the limit price or above the
 * maximum order size (so "buy 10,000" becomes the most the mandate allows, and Alice sees that).
 */
export function validateProposal(raw: RawProposal, mandate: Mandate, priceCents: number, limitPriceCents: number): ProposalCheck {
  if (typeof raw.symbol !== "string" || raw.symbol !== mandate.symbol) {
    return refuse("symbol_outside_mandate", `the mandate covers ${mandate.symbol} only, the model proposed ${printable(raw.symbol)}`);
  }
  const quantity = raw.quantity;
  if (typeof quantity !== "number" || !Number.isSafeInteger(quantity) || quantity < 1) {
    return refuse("invalid_quantity", `the quantity must be a positive whole number of shares, the model proposed ${printable(quantity)}`);
  }
  if (!(priceCents < mandate.thresholdCents)) {
    return refuse("price_not_below_threshold", `the price ${formatMoney(priceCents)} is not below the threshold ${formatMoney(mandate.thresholdCents)}`);
  }
  const affordable = Math.floor(mandate.budgetCents / limitPriceCents);
  const allowed = Math.min(affordable, mandate.maxQuantity);
  if (allowed < 1) {
    return refuse("budget_too_small", `the budget ${formatMoney(mandate.budgetCents)} does not cover one share at ${formatMoney(limitPriceCents)}`);
  }
  let clipped: string | undefined;
  let finalQuantity = quantity;
  if (quantity > allowed) {
    finalQuantity = allowed;
    clipped =
      allowed === affordable
        ? `lowered from ${quantity} to ${allowed}: ${allowed} × ${formatMoney(limitPriceCents)} (limit) stays within the ${formatMoney(mandate.budgetCents)} budget`
        : `lowered from ${quantity} to ${allowed}, the maximum order size`;
  }
  return {
    ok: true,
    proposal: { symbol: mandate.symbol, quantity: finalQuantity, limitPriceCents, reason: cleanReason(raw.reason), ...(clipped ? { clipped } : {}) },
  };
}

const refuse = (code: string, message: string): ProposalCheck => failure(code, message);

/** The model's reason, for the activity log only: one line, printable, bounded. */
export function cleanReason(reason: unknown): string {
  if (typeof reason !== "string") return "";
  const flat = reason.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(/\s+/g, " ").trim();
  return flat.length > MAX_REASON ? `${flat.slice(0, MAX_REASON - 1)}…` : flat;
}

/** Any untrusted value, shortened and made printable for a message. */
function printable(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : value === undefined ? "nothing" : String(JSON.stringify(value) ?? value);
  const flat = cleanReason(text);
  return flat.length > 40 ? `${flat.slice(0, 39)}…` : flat;
}

/** The mandate editor's input (POST /api/agent/mandate): amounts as decimal strings. */
const amount = (field: string, min: number, max: number) =>
  z.string().max(20).transform((text, ctx) => {
    const cents = parseMoney(text);
    if (cents === null || cents < min || cents > max) {
      ctx.addIssue({ code: "custom", message: `${field} must be an amount between ${formatMoney(min)} and ${formatMoney(max)}, like 140.00` });
      return z.NEVER;
    }
    return cents;
  });

export const MandateUpdate = z.strictObject({
  threshold: amount("threshold", 1, 100_000_00),
  budget: amount("budget", 1_00, 10_000_000_00),
});
export type MandateUpdate = z.output<typeof MandateUpdate>;
