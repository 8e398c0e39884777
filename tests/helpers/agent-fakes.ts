import type { LanguageModelV3GenerateResult } from "@ai-sdk/provider";
import { ProtocolError } from "@/lib/errors";
import { MockLanguageModelV3 } from "ai/test";
import type { AccessCredential, McpClientPort, Quote, TradeArgs, TradeOutcome } from "@/lib/agent/mcp-client";
import type { ModelChoice } from "@/lib/agent/models/select";
import type { CibaAcknowledgement, CibaPollOutcome, CibaRequest, IdentityServerProfile, TokenResult } from "@/lib/auth/profiles/types";

import type { TokenClaims } from "@/lib/auth/types";
import { challengeFor } from "./orders";

/**
 * Fakes for the agent loop's unit tests, named as fakes: an identity-server profile whose CIBA
 * answers are scripted, an MCP client answered as the MCP server would answer (403 for the agent
 * token, executes for a token it was told is an approved OBO token), and scripted models.
 */
export const AGENT_TOKEN = "fake-agent-token";
export const OBO_TOKEN = "fake-obo-token";

export class FakeProfile implements IdentityServerProfile {
  readonly name = "embedded" as const;
  cibaRequests: CibaRequest[] = [];
  polls: string[] = [];
  tokenCalls = 0;
  ack: CibaAcknowledgement | ProtocolError = { authReqId: "req-1", expiresIn: 120, interval: 1 };
  /** Outcomes per poll in order; when empty: pending. */
  script: CibaPollOutcome[] = [];

  async getAgentToken(): Promise<TokenResult> {
    this.tokenCalls += 1;
    const claims: TokenClaims = { opaque: false, sub: "aurelius", scope: "openid stock:read", aud: "http://localhost:3000/mcp", exp: Math.floor(Date.now() / 1000) + 600 };
    return { accessToken: AGENT_TOKEN, expiresAt: new Date(Date.now() + 600_000), scopes: ["openid", "stock:read"], claims };
  }

  async startCiba(request: CibaRequest): Promise<CibaAcknowledgement> {
    this.cibaRequests.push(request);
    if (this.ack instanceof ProtocolError) throw this.ack;
    return { ...this.ack, authReqId: `req-${this.cibaRequests.length}` };
  }

  async pollCiba(authReqId: string): Promise<CibaPollOutcome> {
    this.polls.push(authReqId);
    return this.script.shift() ?? { kind: "pending" };
  }

  /**
   * Resolves once a scripted answer is waiting (every poll before it would answer "pending");
   * rejects when `signal` aborts. The agent's CIBA wait in the loop tests: it polls as soon as
   * the test has scripted what the server says next, instead of once a second.
   */
  async answerScripted(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.script.length > 0) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  readActor = (claims: TokenClaims) => claims.act?.sub;
  readGrantedOrder = (token: TokenResult) => token.authorizationDetails ?? token.claims.authorization_details;
}

/** The OBO token the fake identity server issues when Alice approves `details`. */
export function approvedWith(details: unknown[], patch: Partial<TokenClaims> = {}): CibaPollOutcome {
  const claims: TokenClaims = {
    opaque: false,
    sub: "alice",
    act: { sub: "aurelius" },
    scope: "openid stock:read stock:trade",
    aud: "http://localhost:3000/mcp",
    exp: Math.floor(Date.now() / 1000) + 300,
    authorization_details: details,
    ...patch,
  };
  return {
    kind: "approved",
    token: { accessToken: OBO_TOKEN, expiresAt: new Date(Date.now() + 300_000), scopes: (claims.scope ?? "").split(" "), claims, authorizationDetails: details },
  };
}

export class FakeMcpClient implements McpClientPort {
  priceCents = 15000;
  priceReads = 0;
  trades: { side: string; args: TradeArgs; token: string }[] = [];
  /** What a trade with the OBO token returns (default: executed). */
  oboOutcome: TradeOutcome | undefined;
  /** The transaction challenges answered to the agent token, as sent. */
  challenges: TradeOutcome[] = [];
  /** Rewrites the challenge before it is sent (a broker that names another order). */
  rewriteChallenge: ((details: Record<string, unknown>[]) => unknown) | undefined;

  async getPrice(symbol: string): Promise<Quote> {
    this.priceReads += 1;
    return { symbol, priceCents: this.priceCents, status: "CRASHING", at: new Date().toISOString() };
  }

  async trade(side: "buy" | "sell", args: TradeArgs, { accessToken: token }: AccessCredential): Promise<TradeOutcome> {
    this.trades.push({ side, args, token });
    if (token !== OBO_TOKEN) {
      const challenge = challengeFor(side, args);
      const sent = this.rewriteChallenge ? { ...challenge, authorizationDetails: this.rewriteChallenge(challenge.authorizationDetails as Record<string, unknown>[]) } : challenge;
      this.challenges.push(sent);
      return sent;
    }
    return this.oboOutcome ?? { kind: "executed", tradeId: this.trades.length, quantity: args.quantity, priceCents: this.priceCents, data: {} };
  }

  async close(): Promise<void> {}
}

/** A model that answers with the given steps, one per model call; counts its calls. */
export function scriptedModel(steps: LanguageModelV3GenerateResult[] | (() => never)): ModelChoice & { calls: () => number } {
  let calls = 0;
  const model = new MockLanguageModelV3({
    modelId: "scripted",
    doGenerate: async () => {
      calls += 1;
      if (typeof steps === "function") return steps();
      const next = steps.shift();
      if (!next) return text("done");
      return next;
    },
  });
  return { model, label: "scripted", kind: "rules", calls: () => calls };
}

export function toolCall(toolName: string, input: Record<string, unknown>): LanguageModelV3GenerateResult {
  return {
    content: [{ type: "tool-call", toolCallId: `call-${toolName}-${Math.random().toString(36).slice(2)}`, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: "tool-calls", raw: "tool-calls" },
    usage: { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } },
    warnings: [],
  };
}

export function text(value: string): LanguageModelV3GenerateResult {
  return { ...toolCall("x", {}), content: [{ type: "text", text: value }], finishReason: { unified: "stop", raw: "stop" } };
}
