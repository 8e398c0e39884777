import "server-only";
import type { IdentityServerProfile, TokenResult } from "../auth/profiles/types";
import { mandateFromDetail, sameTerms, StockTradeMandateDetail, type Mandate } from "../standing-mandate/mandate";
import { parseMoney } from "../money";
import type { StockTradeDetail } from "../orders/order";

/**
 * The agent's side of Alice's standing mandate: the grant's refresh token, held in memory only
 * (a restart forgets it, and the agent falls back to asking for each order, the safe side), and
 * the mandate it was granted for. For each trade that fits the mandate the agent draws one
 * short-lived access token from the grant; the resource server decides whether the trade really
 * fits (per trade, per day, still granted). Nothing here decides a trade.
 */
export class StandingMandate {
  private held: { mandate: Mandate; detail: StockTradeMandateDetail; refreshToken: string } | undefined;

  constructor(private readonly profile: IdentityServerProfile) {}

  /** Whether this identity server can issue a mandate at all. */
  get supported(): boolean {
    return this.profile.mandates !== undefined;
  }

  /**
   * Keeps the grant when the token the server issued carries exactly the mandate that was asked
   * for and a refresh token; returns why not otherwise (the grant is then not used).
   */
  accept(requested: StockTradeMandateDetail, token: TokenResult): string | undefined {
    const granted = this.profile.readGrantedOrder(token) ?? [];
    const parsed = granted.length === 1 ? StockTradeMandateDetail.safeParse(granted[0]) : undefined;
    if (!parsed?.success || !sameTerms(mandateFromDetail(parsed.data), mandateFromDetail(requested))) {
      return "the server granted other authorization_details than the mandate asked for";
    }
    if (!token.refreshToken) return "the server issued no refresh token for the mandate's grant";
    this.held = { mandate: mandateFromDetail(requested), detail: requested, refreshToken: token.refreshToken };
    return undefined;
  }

  /** The mandate held, if any. */
  current(): StockTradeMandateDetail | undefined {
    return this.held?.detail;
  }

  /** Whether an order may be tried under the mandate (the resource server re-checks it, with the day's spend). */
  covers(order: StockTradeDetail, now: Date): boolean {
    const m = this.held?.mandate;
    if (!m || order.side !== "buy" || order.symbol !== m.symbol || m.expiresAt.getTime() <= now.getTime()) return false;
    const maxNotional = parseMoney(order.max_notional);
    return maxNotional !== null && maxNotional <= m.maxPerTradeCents;
  }

  /** One short-lived access token carrying the mandate; the rotated refresh token replaces the old one. */
  async draw(): Promise<TokenResult> {
    if (!this.held || !this.profile.mandates) throw new Error("no standing mandate is held");
    const token = await this.profile.mandates.draw(this.held.refreshToken);
    if (token.refreshToken) this.held.refreshToken = token.refreshToken;
    return token;
  }

  /** Alice revoked it, or it lapsed: the refresh token is dropped. */
  forget(mandateId?: string): void {
    if (!mandateId || this.held?.mandate.mandateId === mandateId) this.held = undefined;
  }
}

/** "MANDATE NVDA 500.00 per trade 2000.00 per day": plain characters every server accepts, at most 64. */
export function mandateBindingMessage(m: StockTradeMandateDetail): string {
  return `MANDATE ${m.symbol} ${m.max_per_trade} per trade ${m.max_per_day} per day`.slice(0, 64);
}
