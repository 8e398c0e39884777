import "server-only";
import { Client, DpopSession, InsufficientScopeError, StreamableHTTPClientTransport, withDpop, type CallToolResult } from "@modelcontextprotocol/client";
import type { FetchLike } from "../auth/app-fetch";
import type { DPoPKey } from "../auth/dpop";
import { ProtocolError } from "../errors";
import { parseMoney } from "../money";
import { PriceWatch, type PriceWatchEvents } from "./price-watch";

/**
 * The agent's way to the broker: an MCP client over Streamable HTTP to /mcp, like any other MCP
 * client, with the token set per request. Nothing here imports the MCP server or the ledger: the
 * agent cannot trade around the resource server's checks.
 *
 * - Reads go through one long-lived client whose token is asked for on every request (the agent
 *   token, renewed behind it; a 401 renews it once and retries).
 * - A trade with the agent token itself (the first attempt, which the broker answers with its
 *   transaction challenge) goes through that same reader client: same token, no new handshake.
 *   A trade with any other token (on-behalf-of, standing mandate) gets a client of its own for one
 *   call, holding exactly that token, closed right after: such a token is not kept anywhere.
 * - A bearer token goes out as `Authorization: Bearer` (RFC 6750 §2.1). A DPoP-bound token (the
 *   server answered `token_type: DPoP`) goes out as `Authorization: DPoP` with a fresh proof per
 *   HTTP request (RFC 9449 §7.1): `htm`, `htu` = the public MCP URL (taken before the app fetch
 *   may route it to the internal address), `iat`, a new `jti`, and `ath` = the token's hash,
 *   signed by the key the token is bound to (the SDK's withDpop; it also retries once on a
 *   `use_dpop_nonce` challenge, §9).
 * - 403 `insufficient_scope` is surfaced by the SDK (onInsufficientScope: "throw") as
 *   InsufficientScopeError carrying the challenge's `scope` and `resource_metadata`.
 * - 403 `insufficient_authorization` (the broker's transaction challenge, mcp/transaction-challenge.ts)
 *   is read from the response itself: the `authorization_details` the broker named, decoded from
 *   the challenge's `authorization_remediation` (draft-ietf-oauth-rar-metadata-remediation). The
 *   flow checks them against its own proposal before anything else.
 */
const CLIENT_INFO = { name: "aurelius-agent", version: "1.0.0" };
const CALL_TIMEOUT_MS = 15_000;

export interface Quote {
  symbol: string;
  priceCents: number;
  status: string;
  at: string;
}

export type TradeOutcome =
  | { kind: "executed"; tradeId: number | null; quantity: number; priceCents: number | null; data: Record<string, unknown> }
  | { kind: "insufficient_scope"; scope: string | undefined; resourceMetadata: string | undefined; description: string | undefined }
  | { kind: "authorization_required"; authorizationDetails: unknown; scope: string | undefined; description: string | undefined }
  | { kind: "refused"; code: string; message: string };

export interface TradeArgs {
  symbol: string;
  quantity: number;
  /** The approved order; absent when asking the broker to name the order to approve. */
  order_id?: string;
  /** The limit the broker freezes the order at, when it names one. */
  limit_price?: string;
  /**
   * Whose order the broker should freeze, when asking with the agent's own token (it names the
   * agent, not the investor): the investor's `sub`. Sent for every investor but the first.
   */
  investor?: string;
}


/** A token and how to present it: a bearer token, or one bound to `dpop` (TokenResult is one). */
export interface AccessCredential {
  accessToken: string;
  dpop?: DPoPKey;
}

export interface McpClientOptions {
  url: string;
  fetch: FetchLike;
  /** The agent token for reads, asked for before every request. */
  readToken(): Promise<AccessCredential>;
  /** The resource server said the read token is invalid: get a new one. */
  onUnauthorized(): Promise<void>;
}

/** What the agent needs from the broker (the MCP client below; a fake in unit tests). */
export interface McpClientPort {
  getPrice(symbol: string, signal?: AbortSignal): Promise<Quote>;
  /** Subscribe to a resource's updates (price-watch.ts); optional, a fake may poll only. */
  watch?(uri: string, events: PriceWatchEvents): PriceWatch;
  trade(side: "buy" | "sell", args: TradeArgs, credential: AccessCredential, signal?: AbortSignal): Promise<TradeOutcome>;
  close(): Promise<void>;
}

export class AgentMcpClient implements McpClientPort {
  private reader: Promise<Client> | undefined;
  /** The agent token last handed to a request (reads, the price watch). */
  private agentToken: string | undefined;

  constructor(private readonly options: McpClientOptions) {}

  private readonly readToken = async (): Promise<AccessCredential> => {
    const credential = await this.options.readToken();
    this.agentToken = credential.accessToken;
    return credential;
  };

  async getPrice(symbol: string, signal?: AbortSignal): Promise<Quote> {
    const data = await this.read("get_market_price", { symbol }, signal);
    const priceCents = typeof data.price === "string" ? parseMoney(data.price) : null;
    if (priceCents === null || priceCents <= 0) throw new ProtocolError("bad_response", "get_market_price returned no usable price");
    return { symbol: String(data.symbol ?? symbol), priceCents, status: String(data.status ?? "unknown"), at: String(data.at ?? new Date().toISOString()) };
  }

  /**
   * One buy_stock / sell_stock call with exactly `credential`: through the reader client when it
   * is the agent token the reads use, else through a client of its own, closed afterwards.
   */
  async trade(side: "buy" | "sell", args: TradeArgs, credential: AccessCredential, signal?: AbortSignal): Promise<TradeOutcome> {
    const call = { name: `${side}_stock`, arguments: { ...args } };
    if (credential.accessToken === this.agentToken) {
      return this.outcomeOf(() => this.callOnReader(call, signal), args);
    }
    const client = await this.connect(async () => credential);
    try {
      return await this.outcomeOf(async () => (await client.callTool(call, { timeout: CALL_TIMEOUT_MS, signal })) as CallToolResult, args);
    } finally {
      void client.close().catch(() => undefined);
    }
  }

  private async outcomeOf(call: () => Promise<CallToolResult>, args: TradeArgs): Promise<TradeOutcome> {
    let result: CallToolResult;
    try {
      result = await call();
    } catch (error) {
      if (error instanceof TransactionChallenge) return error.outcome;
      if (error instanceof InsufficientScopeError) {
        return {
          kind: "insufficient_scope",
          scope: error.requiredScope,
          resourceMetadata: error.resourceMetadataUrl?.toString(),
          description: error.errorDescription,
        };
      }
      throw error;
    }
    if (result.isError) return { kind: "refused", ...refusalOf(result) };
    const data = (result.structuredContent ?? {}) as Record<string, unknown>;
    return {
      kind: "executed",
      tradeId: typeof data.trade_id === "number" ? data.trade_id : null,
      quantity: typeof data.quantity === "number" ? data.quantity : args.quantity,
      priceCents: typeof data.price === "string" ? parseMoney(data.price) : null,
      data,
    };
  }

  /** A subscription to `uri` with the read token, reconnecting until closed. */
  watch(uri: string, events: PriceWatchEvents): PriceWatch {
    return new PriceWatch(uri, events, () => this.connect(this.readToken, this.options.onUnauthorized, true));
  }

  async close(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    if (reader) await reader.then((c) => c.close()).catch(() => undefined);
  }

  private async read(tool: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const result = await this.callOnReader({ name: tool, arguments: args }, signal);
    if (result.isError) {
      const refusal = refusalOf(result);
      throw new ProtocolError(refusal.code, refusal.message);
    }
    return (result.structuredContent ?? {}) as Record<string, unknown>;
  }

  /** A tool call on the long-lived reader client (the agent token), connecting it first if needed. */
  private async callOnReader(call: { name: string; arguments: Record<string, unknown> }, signal?: AbortSignal): Promise<CallToolResult> {
    this.reader ??= this.connect(this.readToken, this.options.onUnauthorized);
    const reader = this.reader;
    try {
      return (await (await reader).callTool(call, { timeout: CALL_TIMEOUT_MS, signal })) as CallToolResult;
    } catch (error) {
      // The broker's answer to this call, not a broken connection: the reader stays.
      if (error instanceof TransactionChallenge || error instanceof InsufficientScopeError) throw error;
      // A broken connection or handshake: start a fresh client next time.
      if (this.reader === reader) this.reader = undefined;
      void reader.then((c) => c.close()).catch(() => undefined);
      throw error;
    }
  }

  /** `modern`: the 2026-07-28 era, whose `subscriptions/listen` needs no session. */
  private async connect(credential: () => Promise<AccessCredential>, onUnauthorized?: () => Promise<void>, modern = false): Promise<Client> {
    const send = presentCredential(credential, this.options.fetch);
    const transport = new StreamableHTTPClientTransport(new URL(this.options.url), {
      authProvider: { token: async () => (await credential()).accessToken, ...(onUnauthorized ? { onUnauthorized: () => onUnauthorized() } : {}) },
      onInsufficientScope: "throw",
      // The transaction challenge rejects the request it answers (the SDK passes the error on as is).
      fetch: async (input, init) => {
        const response = await send(input, init);
        const challenge = transactionChallengeOf(response);
        if (!challenge) return response;
        await response.body?.cancel().catch(() => undefined);
        throw new TransactionChallenge(challenge);
      },
    });
    const client = new Client(CLIENT_INFO, modern ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {});
    await client.connect(transport);
    return client;
  }
}

/** A 403 `insufficient_authorization` answering a request, as the outcome of that request. */
class TransactionChallenge extends Error {
  constructor(readonly outcome: TradeOutcome) {
    super("the broker answered with a transaction challenge");
  }
}

/**
 * The fetch under the transport: a bearer token passes as the transport set it; a DPoP-bound one
 * is re-presented with the DPoP scheme and a proof made for this very request.
 */
function presentCredential(credential: () => Promise<AccessCredential>, base: FetchLike): FetchLike {
  return async (input, init) => {
    const { accessToken, dpop } = await credential();
    if (!dpop) return base(input, init);
    const url = input instanceof Request ? input.url : input;
    return withDpop(() => sessionFor(dpop), () => accessToken)(base)(url, init);
  };
}

/** One proof-signing session per key, so a server's DPoP-Nonce is remembered across requests (§8). */
const sessions = new WeakMap<DPoPKey, Promise<DpopSession>>();

function sessionFor(key: DPoPKey): Promise<DpopSession> {
  let session = sessions.get(key);
  if (!session) {
    session = DpopSession.create({ keyPair: key });
    sessions.set(key, session);
  }
  return session;
}

/**
 * A 403 `Bearer error="insufficient_authorization"` with `authorization_remediation` (base64url
 * JSON `{authorization_details}`), or undefined for any other response. What the details say is
 * checked by the flow, not here.
 */
export function transactionChallengeOf(response: Response): TradeOutcome | undefined {
  if (response.status !== 403) return undefined;
  const header = response.headers.get("www-authenticate") ?? "";
  if (!/^Bearer\s.*error="insufficient_authorization"/i.test(header)) return undefined;
  const param = (name: string) => new RegExp(`(?:^Bearer\\s+|,\\s*)${name}="([^"]*)"`, "i").exec(header)?.[1];
  const encoded = param("authorization_remediation");
  let authorizationDetails: unknown;
  try {
    authorizationDetails = encoded && encoded.length <= 8192 ? (JSON.parse(Buffer.from(encoded, "base64url").toString("utf8")) as { authorization_details?: unknown }).authorization_details : undefined;
  } catch {
    authorizationDetails = undefined;
  }
  return { kind: "authorization_required", authorizationDetails, scope: param("scope"), description: param("error_description") };
}

/** The broker's refusals read `Refused (code): message` (mcp/tool-context.ts errorResult). */
function refusalOf(result: CallToolResult): { code: string; message: string } {
  const text = result.content?.find((c) => c.type === "text")?.text ?? "";
  const match = /^Refused \(([a-z_]+)\): (.*)$/s.exec(text);
  return match ? { code: match[1]!, message: match[2]!.slice(0, 300) } : { code: "tool_error", message: text.slice(0, 300) || "the tool reported an error" };
}
