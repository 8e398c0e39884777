import { z } from "zod";
import { parseMoney } from "../money";
import { positiveMoney, SYMBOL_PATTERN } from "../orders/order";
import { STOCK_TRADE_MANDATE_TYPE } from "../protocol";

/**
 * The standing mandate: Alice lets her agent buy one symbol without a per-trade approval, at most
 * `max_per_trade` per trade and `max_per_day` per UTC day, until `expires_at`. It is an
 * authorization grant (RFC 9396 `authorization_details` of type `stock_trade_mandate`) that Alice
 * approves at the authorization server, and the tokens issued from that grant carry it; the
 * resource server enforces it (mcp/standing-mandate.ts) and counts the day's spend in the ledger inside the
 * trade's transaction (lib/ledger/mandate-spend.ts).
 *
 * Wire format:
 *   { type: "stock_trade_mandate", mandate_id, symbol, side: "buy", max_per_trade: "500.00",
 *     max_per_day: "2000.00", currency: "USD", expires_at: ISO-8601 }
 * One schema for the app, the identity server and the resource server (this folder imports
 * nothing of theirs). Money travels as decimal strings and is compared as integer cents.
 */

export const MANDATE_ID_PATTERN = /^mdt_[A-Za-z0-9]{16,40}$/;
export const MandateId = z.string().regex(MANDATE_ID_PATTERN, "mandate_id must look like mdt_ followed by 16-40 letters or digits");

/** One `authorization_details` entry of type `stock_trade_mandate`. Unknown fields are refused (RFC 9396 §5). */
export const StockTradeMandateDetail = z
  .strictObject({
    type: z.literal(STOCK_TRADE_MANDATE_TYPE),
    mandate_id: MandateId,
    symbol: z.string().regex(SYMBOL_PATTERN, "symbol must be 1-5 capital letters"),
    // Buying only: a mandate that could sell would let a compromised agent liquidate the account.
    side: z.literal("buy"),
    max_per_trade: positiveMoney("max_per_trade"),
    max_per_day: positiveMoney("max_per_day"),
    currency: z.literal("USD"),
    expires_at: z.iso.datetime({ offset: true, message: "expires_at must be an ISO-8601 date-time like 2030-01-01T00:00:00Z" }),
  })
  .refine((d) => parseMoney(d.max_per_trade)! <= parseMoney(d.max_per_day)!, {
    message: "max_per_trade must not exceed max_per_day",
    path: ["max_per_trade"],
  });
export type StockTradeMandateDetail = z.infer<typeof StockTradeMandateDetail>;

/** A mandate in integer cents, whichever side read it (token or store). */
export interface Mandate {
  mandateId: string;
  symbol: string;
  maxPerTradeCents: number;
  maxPerDayCents: number;
  expiresAt: Date;
}

export function mandateFromDetail(d: StockTradeMandateDetail): Mandate {
  return {
    mandateId: d.mandate_id,
    symbol: d.symbol,
    maxPerTradeCents: parseMoney(d.max_per_trade)!,
    maxPerDayCents: parseMoney(d.max_per_day)!,
    expiresAt: new Date(d.expires_at),
  };
}

/** Why an entry is not a valid mandate, in words a client can act on; undefined when it is. */
export function mandateDetailProblem(detail: unknown): string | undefined {
  const parsed = StockTradeMandateDetail.safeParse(detail);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
  return `${STOCK_TRADE_MANDATE_TYPE} ${where}${issue.code === "unrecognized_keys" ? `unknown field(s) ${issue.keys.join(", ")}` : issue.message}`;
}

/** The entries of type `stock_trade_mandate` among `authorization_details`, valid or not. */
export function mandateEntries(details: readonly unknown[]): unknown[] {
  return details.filter((d) => typeof d === "object" && d !== null && (d as { type?: unknown }).type === STOCK_TRADE_MANDATE_TYPE);
}

/** Two readings of a mandate name the same terms (the token's and the store's). */
export function sameTerms(a: Mandate, b: Mandate): boolean {
  return (
    a.mandateId === b.mandateId &&
    a.symbol === b.symbol &&
    a.maxPerTradeCents === b.maxPerTradeCents &&
    a.maxPerDayCents === b.maxPerDayCents &&
    a.expiresAt.getTime() === b.expiresAt.getTime()
  );
}

/** The UTC day a trade counts against: "2026-11-27". */
export function mandateDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}
