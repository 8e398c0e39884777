import "server-only";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { ProtocolError } from "../errors";
import { mandateSpentOn } from "../ledger/mandate-spend";
import { formatMoney, parseMoney } from "../money";
import { positiveMoney, SYMBOL_PATTERN } from "../orders/order";
import { STOCK_TRADE_MANDATE_TYPE } from "../protocol";
import type { InvestorScope } from "../runtime";
import { mandateDay, mandateFromDetail, StockTradeMandateDetail } from "../standing-mandate/mandate";
import { currentMandate, readMandate, recordMandateGranted, setMandateRequest, recordMandateRequested, recordMandateRevoked, type MandateRecord } from "../store/standing-mandates";

/**
 * Standing delegation from the dashboard: Alice grants her agent a standing mandate, sees what it
 * has spent today, and revokes it.
 *
 * Granting is an authorization grant at the server, never a setting: the agent's client sends a
 * CIBA request whose authorization_details are the mandate (RFC 9396 type stock_trade_mandate), and
 * Alice approves it on the authorization server's approval page, where she signs in again and reads
 * the limits. CIBA rather than a browser code flow because the tokens must be the agent's
 * (`sub` = Alice, `act.sub` = the agent, issued to the agent's client), which is what this server's
 * CIBA already issues with the agent's token as actor_token, and because the approval page is the
 * consent screen Alice already uses for single orders. The app records the mandate as requested
 * first, granted once the agent holds a token carrying exactly these terms, revoked when she says
 * so; the resource server honours a mandate token only while its record says granted.
 */
export const GrantInput = z
  .strictObject({
    symbol: z.string().regex(SYMBOL_PATTERN, "symbol must be 1-5 capital letters"),
    max_per_trade: positiveMoney("max_per_trade"),
    max_per_day: positiveMoney("max_per_day"),
    expires_at: z.iso.datetime({ offset: true, message: "expires_at must be an ISO-8601 date-time like 2030-01-01T00:00:00Z" }),
  })
  .refine((d) => parseMoney(d.max_per_trade)! <= parseMoney(d.max_per_day)!, { message: "max_per_trade must not exceed max_per_day", path: ["max_per_trade"] })
  .refine((d) => Date.parse(d.expires_at) > Date.now(), { message: "expires_at must be in the future", path: ["expires_at"] });
export type GrantInput = z.infer<typeof GrantInput>;

export const RevokeInput = z.strictObject({ mandate_id: z.string().regex(/^mdt_[A-Za-z0-9]{16,40}$/, "mandate_id must look like mdt_ followed by 16-40 letters or digits") });

export interface MandateView {
  mandate_id: string;
  status: MandateRecord["status"];
  symbol: string;
  max_per_trade: string;
  max_per_day: string;
  expires_at: string;
  spent_today: string;
}

/** The investor's current mandate (requested or granted) with the day's spend, or null. */
export async function standingMandateView(rt: InvestorScope, userSub: string): Promise<{ supported: boolean; mandate: MandateView | null }> {
  const supported = rt.agent?.standing.supported ?? false;
  const record = await currentMandate(rt.db, userSub);
  if (!record) return { supported, mandate: null };
  const spent = await mandateSpentOn(rt.db, record.mandateId, mandateDay(new Date()));
  return {
    supported,
    mandate: {
      mandate_id: record.mandateId,
      status: record.status,
      symbol: record.symbol,
      max_per_trade: formatMoney(record.maxPerTradeCents),
      max_per_day: formatMoney(record.maxPerDayCents),
      expires_at: record.expiresAt.toISOString(),
      spent_today: formatMoney(spent),
    },
  };
}

/** Asks the authorization server, through the agent's client, to grant the mandate; Alice approves it there. */
export async function grantStandingMandate(rt: InvestorScope, userSub: string, input: GrantInput): Promise<MandateView> {
  const agent = rt.agent;
  if (!agent || agent.revoked) throw new ProtocolError("agent_not_running", `${rt.config.agent.name} is not running; a mandate needs it.`, { status: 409 });
  if (!agent.standing.supported) {
    throw new ProtocolError("unsupported_authorization_details", `${rt.config.auth.provider} cannot issue a standing mandate; every trade needs an approval.`, { status: 400 });
  }
  if (input.symbol !== rt.config.market.symbol) throw new ProtocolError("invalid_request", `The broker trades ${rt.config.market.symbol} only.`, { status: 400 });
  if (await currentMandate(rt.db, userSub)) {
    throw new ProtocolError("mandate_exists", "A standing mandate is already requested or granted; revoke it first.", { status: 409 });
  }
  const detail = StockTradeMandateDetail.parse({
    type: STOCK_TRADE_MANDATE_TYPE,
    mandate_id: `mdt_${randomBytes(16).toString("hex")}`,
    symbol: input.symbol,
    side: "buy",
    max_per_trade: formatMoney(parseMoney(input.max_per_trade)!),
    max_per_day: formatMoney(parseMoney(input.max_per_day)!),
    currency: "USD",
    // Whole seconds: the record and the token compare the instant exactly.
    expires_at: new Date(Math.floor(Date.parse(input.expires_at) / 1000) * 1000).toISOString(),
  });
  await recordMandateRequested(rt.db, { ...mandateFromDetail(detail), userSub, agentSub: rt.config.agent.id });
  try {
    const { authReqId } = await agent.requestStandingMandate(detail, async (problem) => {
      // A mandate Alice revoked while it was being granted stays revoked, and the agent drops it.
      if (problem !== null) await recordMandateRevoked(rt.db, detail.mandate_id, userSub);
      else if (!(await recordMandateGranted(rt.db, detail.mandate_id))) agent.standing.forget(detail.mandate_id);
      rt.bus.publish("agent", { reason: "standing-mandate" });
    });
    await setMandateRequest(rt.db, detail.mandate_id, authReqId);
  } catch (error) {
    // Nothing is pending at the server: the request is withdrawn, and nothing stands.
    await recordMandateRevoked(rt.db, detail.mandate_id, userSub);
    throw error;
  }
  return (await standingMandateView(rt, userSub)).mandate!;
}

/**
 * Revokes the mandate: the record first (the resource server refuses every token carrying it from
 * this commit on), then the agent drops the grant's refresh token. Returns false when there is no
 * such mandate of Alice's that still stands.
 */
export async function revokeStandingMandate(rt: InvestorScope, userSub: string, mandateId: string): Promise<boolean> {
  const revoked = await recordMandateRevoked(rt.db, mandateId, userSub);
  rt.agent?.standing.forget(mandateId);
  if (revoked) {
    // At the server that issued it: no new token can be drawn from the grant (the embedded
    // server; the other profiles never issue one).
    const record = await readMandate(rt.db, mandateId);
    if (record?.authReqId && rt.idp) await rt.idp.revokeGrantOfRequest(record.authReqId, `${rt.config.investor.name} revoked the standing mandate`);
    await rt.activity.add({ level: "warn", kind: "mandate.revoked", message: `${rt.config.investor.name} revoked standing mandate ${mandateId}.`, data: { mandateId } });
    rt.bus.publish("agent", { reason: "standing-mandate" });
  }
  return revoked;
}
