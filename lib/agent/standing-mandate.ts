import "server-only";
import type { IdentityServerProfile, TokenResult } from "../auth/profiles/types";
import { mandateFromDetail, sameTerms, StockTradeMandateDetail, type Mandate } from "../standing-mandate/mandate";
import { parseMoney } from "../money";
import type { StockTradeDetail } from "../orders/order";
import type { Queryable } from "../store/db";
import { recordMandateLost } from "../store/standing-mandates";
import type { ActivityLevel } from "../types";
import { GrantNotHeld, type MandateGrantVault } from "./mandate-grant-vault";

/**
 * The agent's side of Alice's standing mandate: the mandate it holds a grant for, and the grant's
 * refresh token, kept sealed in the store (mandate-grant-vault.ts), so a restart finds it again;
 * in memory only the mandate's terms. For each trade that fits the mandate the agent draws one
 * short-lived access token from the grant; the resource server decides whether the trade really
 * fits (per trade, per day, still granted). Nothing here decides a trade.
 *
 * A hold the agent cannot use any more (a draw failed, or after a restart it cannot be trusted)
 * is let go for good: its row is deleted, the mandate's record is revoked, and the activity log
 * says why. Alice then sees no mandate in force and every order asks for her approval.
 */
export type MandateLog = (level: ActivityLevel, message: string, data?: Record<string, unknown>) => Promise<void>;

export class StandingMandate {
  private held: { mandate: Mandate; detail: StockTradeMandateDetail } | undefined;

  constructor(
    private readonly profile: IdentityServerProfile,
    private readonly vault: MandateGrantVault,
    private readonly db: Queryable,
    private readonly agentSub: string,
    private readonly log: MandateLog = async () => undefined,
    /** Called once a mandate is let go and revoked here, to withdraw its grant where it was issued. */
    private readonly lost: (mandateId: string) => Promise<void> = async () => undefined,
  ) {}

  /** Whether this identity server can issue a mandate at all. */
  get supported(): boolean {
    return this.profile.mandates !== undefined;
  }

  /**
   * Keeps the grant when the token the server issued carries exactly the mandate that was asked
   * for and a refresh token, and the mandate was not revoked meanwhile; returns why not otherwise
   * (the grant is then not used).
   */
  async accept(requested: StockTradeMandateDetail, token: TokenResult): Promise<string | undefined> {
    const granted = this.profile.readGrantedOrder(token) ?? [];
    const parsed = granted.length === 1 ? StockTradeMandateDetail.safeParse(granted[0]) : undefined;
    if (!parsed?.success || !sameTerms(mandateFromDetail(parsed.data), mandateFromDetail(requested))) {
      return "the server granted other authorization_details than the mandate asked for";
    }
    if (!token.refreshToken) return "the server issued no refresh token for the mandate's grant";
    if (!(await this.vault.keep({ mandate: requested, refreshToken: token.refreshToken }))) return "the mandate was revoked while it was being granted";
    this.held = { mandate: mandateFromDetail(requested), detail: requested };
    return undefined;
  }

  /** After a start: takes up the hold stored before, and lets go of any that cannot be trusted. */
  async restore(): Promise<void> {
    const { held, dropped } = await this.vault.restore();
    for (const lost of dropped) await this.letGo(lost.mandateId, lost.why);
    if (!held) return;
    this.held = { mandate: mandateFromDetail(held.mandate), detail: held.mandate };
    await this.log("info", `Standing mandate ${held.mandate.mandate_id} held again after the start: ${held.mandate.symbol}, up to ${held.mandate.max_per_trade} USD per trade and ${held.mandate.max_per_day} USD per day, until ${held.mandate.expires_at}.`, {
      mandateId: held.mandate.mandate_id,
    });
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

  /**
   * One short-lived access token carrying the mandate; the rotated refresh token replaces the old
   * one in the store. A failure lets the mandate go (letGo) and rethrows.
   */
  async draw(): Promise<TokenResult> {
    const held = this.held;
    const mandates = this.profile.mandates;
    if (!held || !mandates) throw new Error("no standing mandate is held");
    try {
      return await this.vault.draw(held.detail.mandate_id, (refreshToken) => mandates.draw(refreshToken));
    } catch (error) {
      // Nothing to draw from here (revoked, or drawn from by another instance): only memory forgets.
      if (error instanceof GrantNotHeld) {
        if (this.held === held) this.held = undefined;
        throw error;
      }
      await this.letGo(held.detail.mandate_id, `drawing a token from its grant failed (${error instanceof Error ? error.message.slice(0, 200) : "unknown error"})`);
      throw error;
    }
  }

  /** Alice revoked it, the kill switch did, or it lapsed: the hold is dropped (memory and store). */
  async forget(mandateId?: string): Promise<void> {
    const id = mandateId ?? this.held?.detail.mandate_id;
    if (!id) return;
    if (this.held?.detail.mandate_id === id) this.held = undefined;
    await this.vault.drop(id);
  }

  private async letGo(mandateId: string, why: string): Promise<void> {
    if (this.held?.detail.mandate_id === mandateId) this.held = undefined;
    await this.vault.drop(mandateId);
    const revoked = await recordMandateLost(this.db, mandateId, this.agentSub);
    if (revoked) {
      await this.log("warn", `Standing mandate ${mandateId} let go: ${why}. It is revoked; every order asks for approval until a new mandate is granted.`, { mandateId });
      await this.lost(mandateId);
    }
  }
}

/** "MANDATE NVDA 500.00 per trade 2000.00 per day": plain characters every server accepts, at most 64. */
export function mandateBindingMessage(m: StockTradeMandateDetail): string {
  return `MANDATE ${m.symbol} ${m.max_per_trade} per trade ${m.max_per_day} per day`.slice(0, 64);
}
