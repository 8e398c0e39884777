import "server-only";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { ProtocolError } from "../errors";
import { mandateSpentOn } from "../ledger/mandate-spend";
import { formatMoney, parseMoney } from "../money";
import { positiveMoney, SYMBOL_PATTERN } from "../orders/order";
import { STOCK_TRADE_MANDATE_TYPE } from "../protocol";
import type { Agent } from "../agent";
import { tellAgentOwner } from "../agent/control";
import type { InvestorScope } from "../runtime";
import { readAgentRevocation } from "../store/agent-revocations";
import { agentLease } from "../store/leases";
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

/**
 * Whether the identity server can issue a mandate: the running agent's profile knows; on an
 * instance that does not run the agent, the configuration says (of the profiles, only the
 * embedded server's has `mandates`, lib/auth/profiles/embedded.ts).
 */
function mandatesSupported(rt: InvestorScope): boolean {
  return rt.agent ? rt.agent.standing.supported : rt.config.auth.provider === "embedded";
}

/** The investor's current mandate (requested or granted) with the day's spend, or null. */
export async function standingMandateView(rt: InvestorScope, userSub: string): Promise<{ supported: boolean; mandate: MandateView | null }> {
  const supported = mandatesSupported(rt);
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

/** Whether the agent runs, here or on the instance that holds its lease, and is not revoked. */
async function agentAvailable(rt: InvestorScope): Promise<boolean> {
  if (rt.agent) return !rt.agent.revoked;
  if ((await readAgentRevocation(rt.db, rt.config.agent.id))?.status === "revoked") return false;
  const owner = await rt.leases.holderOf(agentLease(rt.config.investor.userId, rt.config.agent.id)).catch(() => undefined);
  return owner !== undefined;
}

/**
 * Asks the authorization server, through the agent's client, to grant the mandate; Alice approves
 * it there. The mandate is recorded as requested first; the agent asks where it runs: here, or on
 * the instance that holds its lease (told through the bus, which reads the record from the store).
 */
export async function grantStandingMandate(rt: InvestorScope, userSub: string, input: GrantInput): Promise<MandateView> {
  if (!(await agentAvailable(rt))) throw new ProtocolError("agent_not_running", `${rt.config.agent.name} is not running; a mandate needs it.`, { status: 409 });
  if (!mandatesSupported(rt)) {
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
  if (rt.agent) await askAgent(rt, rt.agent, detail, userSub);
  else await tellAgentOwner(rt, "grant-mandate", { mandateId: detail.mandate_id });
  return (await standingMandateView(rt, userSub)).mandate!;
}

/**
 * On the instance that runs the agent, for a mandate recorded as requested on another: the agent
 * asks for it. A failure revokes the record and says so in the activity log.
 */
export async function askForRecordedMandate(rt: InvestorScope, agent: Agent, mandateId: string): Promise<void> {
  const record = await readMandate(rt.db, mandateId);
  if (!record || record.status !== "requested" || record.authReqId || record.agentSub !== rt.config.agent.id || record.userSub !== rt.config.investor.userId) return;
  const detail = detailOfRecord(record);
  try {
    await askAgent(rt, agent, detail, record.userSub);
  } catch (error) {
    const why = error instanceof ProtocolError ? `${error.code}: ${error.description}` : error instanceof Error ? error.message.slice(0, 200) : "unknown error";
    await rt.activity.add({ level: "warn", kind: "agent.mandate", message: `Standing mandate ${mandateId} could not be asked for (${why}); nothing stands.`, data: { mandateId } });
    rt.bus.publish("agent", { reason: "standing-mandate" });
  }
}

/**
 * At the server that issued the mandate's grant: its refresh and access tokens are revoked, so no
 * new token can be drawn from it (the embedded server; the other profiles never issue one).
 */
export async function withdrawMandateGrant(rt: Pick<InvestorScope, "db" | "idp">, mandateId: string, reason: string): Promise<void> {
  const record = await readMandate(rt.db, mandateId);
  if (record?.authReqId && rt.idp) await rt.idp.revokeGrantOfRequest(record.authReqId, reason);
}

/** The mandate as the token carries it, from its record (the terms it was recorded with). */
function detailOfRecord(record: MandateRecord): StockTradeMandateDetail {
  return StockTradeMandateDetail.parse({
    type: STOCK_TRADE_MANDATE_TYPE,
    mandate_id: record.mandateId,
    symbol: record.symbol,
    side: "buy",
    max_per_trade: formatMoney(record.maxPerTradeCents),
    max_per_day: formatMoney(record.maxPerDayCents),
    currency: "USD",
    expires_at: record.expiresAt.toISOString(),
  });
}

/** The agent's CIBA request for the mandate; the record follows Alice's decision. Rejects (record revoked) when nothing is pending. */
async function askAgent(rt: InvestorScope, agent: Agent, detail: StockTradeMandateDetail, userSub: string): Promise<void> {
  try {
    const { authReqId } = await agent.requestStandingMandate(detail, async (problem) => {
      // A mandate Alice revoked while it was being granted stays revoked, and the agent drops it.
      if (problem !== null) await recordMandateRevoked(rt.db, detail.mandate_id, userSub);
      else if (!(await recordMandateGranted(rt.db, detail.mandate_id))) await agent.standing.forget(detail.mandate_id);
      rt.bus.publish("agent", { reason: "standing-mandate" });
    });
    await setMandateRequest(rt.db, detail.mandate_id, authReqId);
  } catch (error) {
    // Nothing is pending at the server: the request is withdrawn, and nothing stands.
    await recordMandateRevoked(rt.db, detail.mandate_id, userSub);
    throw error;
  }
  rt.bus.publish("agent", { reason: "standing-mandate" });
}

/**
 * Revokes the mandate: the record and the agent's sealed hold on its grant in one transaction (the
 * resource server refuses every token carrying it from this commit on), then the agent drops it
 * from memory. Returns false when there is no
 * such mandate of Alice's that still stands.
 */
export async function revokeStandingMandate(rt: InvestorScope, userSub: string, mandateId: string): Promise<boolean> {
  const revoked = await recordMandateRevoked(rt.db, mandateId, userSub);
  // The agent drops it from memory where it runs: here, or on the instance that holds its lease.
  if (revoked && rt.agent) await rt.agent.standing.forget(mandateId);
  else if (revoked) await tellAgentOwner(rt, "forget-mandate", { mandateId });
  if (revoked) {
    await withdrawMandateGrant(rt, mandateId, `${rt.config.investor.name} revoked the standing mandate`);
    await rt.activity.add({ level: "warn", kind: "mandate.revoked", message: `${rt.config.investor.name} revoked standing mandate ${mandateId}.`, data: { mandateId } });
    rt.bus.publish("agent", { reason: "standing-mandate" });
  }
  return revoked;
}
