import "server-only";
import { z } from "zod";
import { findInvestor } from "../lib/config";
import { formatMoney, parseMoney } from "../lib/money";
import { freezeOrder, limitPriceCents } from "../lib/orders/freeze";
import { positiveMoney, type StockTradeDetail } from "../lib/orders/order";
import { SCOPE_TRADE } from "../lib/protocol";
import type { Principal } from "../lib/protected-resource/principal";
import { countChallengesSince, insertChallengedOrder } from "../lib/store/transaction-challenges";
import { auditToolCall } from "./audit";
import { bearerChallenge } from "./challenge";
import type { BrokerDeps } from "./tool-context";

/**
 * The transaction challenge: a buy_stock / sell_stock call whose token approves no order (the
 * agent's own read token, an interactive client's user token from the code flow: no stock:trade)
 * is answered, before any tool runs, with HTTP 403 naming the exact order that must be approved.
 * The resource server freezes that order itself (its own order_id, the current price plus the
 * limit tolerance, a short expiry), stores it bound to the investor and to the party that asked
 * (lib/store/transaction-challenges.ts), and a trade naming it later executes only for that
 * investor, through that party, with a token whose order is this one field for field
 * (tools-trade.ts).
 *
 * Wire format, following three drafts as far as they agree:
 * - draft-ietf-oauth-rar-metadata-remediation-00 (formerly draft-zehavi-oauth-rar-metadata) §"Resource
 *   Server": `WWW-Authenticate: Bearer error="insufficient_authorization"` with
 *   `authorization_remediation` = base64url(JSON `{"authorization_details": [...]}`), the RFC 9396
 *   array the client puts into its next authorization request unchanged.
 * - draft-rosomakho-oauth-txn-challenge-00 uses the same error code (the remediation draft aligned
 *   to it); its signed challenge object that the authorization server validates is not used: the
 *   order is stored here and the embedded authorization server reads the store, and WSO2/Auth0
 *   have no endpoint that accepts such an object.
 * - MCP SEP-2643 (structured authorization denials): the JSON-RPC error's `data.remediationHints`
 *   holds `{ type: "oauth_authorization_details", authorization_details }`; the WWW-Authenticate
 *   challenge stays authoritative.
 * `scope="stock:trade"` is named too (RFC 6750 §3): the approved token must carry it.
 *
 * A call whose token has stock:trade is not challenged here: the tool decides (an OBO token for
 * the order, a standing mandate, or a refusal with its binding code).
 */

export const INSUFFICIENT_AUTHORIZATION = "insufficient_authorization";
const TRADE_TOOLS = { buy_stock: "buy", sell_stock: "sell" } as const;
/** The order stays executable this long after the approval window closes (the trade itself). */
export const ORDER_EXECUTION_WINDOW_SECONDS = 60;
/**
 * Orders one requester may have frozen per minute for one investor: each challenge writes a row.
 * Counted per investor because the agent's client acts for every configured investor (a crash
 * makes each of their agents ask at once); investors are bounded by configuration.
 */
export const MAX_CHALLENGES_PER_MINUTE = 20;

/** What a challenged call may say: the order it wants, optionally its own limit price; an order_id is ignored (the server names it). */
export function challengeArgsSchema(symbols: [string, ...string[]], maxQuantity: number) {
  return z.strictObject({
    symbol: z.enum(symbols),
    quantity: z.number().int().min(1).max(maxQuantity),
    order_id: z.string().max(64).optional(),
    limit_price: positiveMoney("limit_price").optional(),
    /** With the agent's own token: the investor whose order it is (the token names only the agent). */
    investor: z.string().max(255).optional(),
  });
}

interface ToolCall {
  id: string | number;
  tool: keyof typeof TRADE_TOOLS;
  args: unknown;
}

/** The trade call in a JSON-RPC message, or undefined for anything else. */
export function tradeCallOf(message: Record<string, unknown>): ToolCall | undefined {
  if (message.method !== "tools/call") return undefined;
  const params = message.params as { name?: unknown; arguments?: unknown } | undefined;
  const name = params?.name;
  if (typeof name !== "string" || !(name in TRADE_TOOLS)) return undefined;
  const id = message.id;
  if (typeof id !== "string" && typeof id !== "number") return undefined;
  return { id, tool: name as keyof typeof TRADE_TOOLS, args: params?.arguments };
}

export interface ChallengeOptions {
  resourceMetadataUrl: string;
  schema: ReturnType<typeof challengeArgsSchema>;
  now?: () => Date;
}

/**
 * The 403 transaction challenge for `message` when it is a trade call the token cannot make, or
 * undefined when the call goes on to the tools (they refuse anything else with its own code).
 */
export async function challengeTradeCall(deps: BrokerDeps, principal: Principal, message: Record<string, unknown>, options: ChallengeOptions): Promise<Response | undefined> {
  const call = tradeCallOf(message);
  if (!call || principal.scopes.includes(SCOPE_TRADE)) return undefined;
  const parsed = options.schema.safeParse(call.args);
  // Arguments that name no valid order: the SDK's per-tool scope check answers insufficient_scope.
  if (!parsed.success) return undefined;
  const party = requesterOf(principal, deps, parsed.data.investor);
  if (!party) return undefined;

  const now = options.now?.() ?? new Date();
  if ((await countChallengesSince(deps.db, party.requester, party.investor, new Date(now.getTime() - 60_000))) >= MAX_CHALLENGES_PER_MINUTE) {
    return Response.json(
      { jsonrpc: "2.0", id: call.id, error: { code: -32000, message: "Too many orders frozen for this investor in the last minute; retry later." } },
      { status: 429, headers: { "Cache-Control": "no-store", "Retry-After": "60" } },
    );
  }

  const order = freezeChallengedOrder(deps, TRADE_TOOLS[call.tool], parsed.data, now);
  await deps.db.transaction(async (tx) => {
    await insertChallengedOrder(tx, {
      orderId: order.order_id,
      userSub: party.investor,
      requester: party.requester,
      clientId: principal.clientId,
      detail: order,
      expiresAt: new Date(order.expires_at),
    });
    await auditToolCall(tx, principal, {
      event: "step_up.required",
      tool: call.tool,
      decision: "refused",
      reason: `${INSUFFICIENT_AUTHORIZATION}: the ${call.tool} tool requires the ${SCOPE_TRADE} scope and approval of order ${order.order_id} (${order.side} ${order.quantity} ${order.symbol}, limit ${order.limit_price} USD, max ${order.max_notional} USD, expires ${order.expires_at}); the token has ${principal.scopes.join(" ") || "none"}.`,
      args: call.args,
      orderId: order.order_id,
    });
  });
  const who = `${principal.sub}${principal.actor ? ` (by ${principal.actor})` : ""}`;
  // The entry is the investor's: another investor never reads it.
  await deps.activity
    .forInvestor(party.investor)
    .add({
      level: "warn",
      kind: "mcp.challenge",
      message: `${call.tool} needs ${party.investor}'s approval of order ${order.order_id} (${order.side} ${order.quantity} ${order.symbol}, limit ${order.limit_price} USD) asked by ${who}: 403 ${INSUFFICIENT_AUTHORIZATION}`,
      data: { tool: call.tool, orderId: order.order_id, sub: principal.sub, requester: party.requester },
    })
    .catch((e: unknown) => console.error("[mcp] activity entry failed:", e instanceof Error ? e.message : "unknown error"));
  return transactionChallengeResponse(call.id, order, `The ${call.tool} tool requires approval of order ${order.order_id}`, options.resourceMetadataUrl);
}

/**
 * Who the order is for and who asked: a user token (sub = the investor, azp = the client) asks for
 * itself; the agent's own token (it names the agent, which acts for every investor) asks for the
 * investor the call names, the first investor when it names none. A name that is no investor is
 * no order: the call goes on to the tools, which refuse it. The order still executes only with a
 * token whose subject is that investor, after her own approval (challenged-order.ts).
 */
function requesterOf(principal: Principal, deps: BrokerDeps, named: string | undefined): { investor: string; requester: string } | undefined {
  if (principal.subjectKind === "user") return principal.clientId && (named === undefined || named === principal.sub) ? { investor: principal.sub, requester: principal.clientId } : undefined;
  if (named === undefined) return { investor: deps.config.investor.userId, requester: principal.sub };
  const investor = findInvestor(deps.config, named);
  return investor ? { investor: investor.userId, requester: principal.sub } : undefined;
}

/** The order the server names: the call's symbol, side and quantity; its limit or the current price plus the tolerance. */
function freezeChallengedOrder(deps: BrokerDeps, side: "buy" | "sell", args: z.output<ReturnType<typeof challengeArgsSchema>>, now: Date): StockTradeDetail {
  const { config } = deps;
  const priceCents = deps.market.snapshot().priceCents;
  const tolerance = config.agent.limitToleranceBps;
  const fallback = side === "buy" ? limitPriceCents(priceCents, tolerance) : Math.max(1, Math.floor((priceCents * (10_000 - tolerance)) / 10_000));
  const limit = args.limit_price !== undefined ? parseMoney(args.limit_price)! : fallback;
  return freezeOrder({
    symbol: args.symbol,
    side,
    quantity: args.quantity,
    limitPriceCents: limit,
    maxNotionalCents: limit * args.quantity,
    expiresAt: new Date(now.getTime() + (config.agent.approvalExpirySeconds + ORDER_EXECUTION_WINDOW_SECONDS) * 1000),
  });
}

/** base64url without padding (RFC 4648 §5), as the remediation draft encodes its JSON. */
const base64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

export function transactionChallengeResponse(id: string | number | null, order: StockTradeDetail, description: string, resourceMetadata: string): Response {
  const authorization_details = [order];
  const header = bearerChallenge({
    error: INSUFFICIENT_AUTHORIZATION,
    description,
    scope: SCOPE_TRADE,
    authorizationRemediation: base64url(JSON.stringify({ authorization_details })),
    resourceMetadata,
  });
  return Response.json(
    {
      jsonrpc: "2.0",
      id,
      error: {
        code: -32003,
        message: `${description}: ${order.side} ${order.quantity} ${order.symbol}, limit ${order.limit_price} USD, at most ${formatMoney(parseMoney(order.max_notional)!)} USD, before ${order.expires_at}.`,
        data: { remediationHints: [{ type: "oauth_authorization_details", authorization_details }] },
      },
    },
    { status: 403, headers: { "Cache-Control": "no-store", "WWW-Authenticate": header } },
  );
}
