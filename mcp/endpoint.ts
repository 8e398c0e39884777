import "server-only";
import {
  createMcpHandler,
  isJsonContentType,
  isLegacyRequest,
  readRequestBody,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type McpServerFactory,
} from "@modelcontextprotocol/server";
import { jsonRpcErrorResponse } from "./challenge";
import { createStoreReplayStore } from "./dpop-replay";
import { createGate, principalOf, type TokenVerifier } from "./gate";
import { createRevocationCheck } from "./revocation";
import { resourceMetadataUrl } from "../lib/protected-resource/metadata-url";
import { createListenGuard } from "./price-listen";
import { brokerSchemas, createBrokerServer } from "./server";
import { cacheVerifiedTokens } from "./verified-tokens";
import { challengeArgsSchema, challengeTradeCall } from "./transaction-challenge";
import { priceResourceUri } from "../lib/protocol";
import type { BrokerDeps } from "./tool-context";
import { verifyAccessToken, verifyOptionsFor, type VerifyOptions } from "../lib/protected-resource/verify-access-token";

/**
 * The /mcp endpoint: Streamable HTTP, stateless (no sessions: every request carries its token,
 * with a DPoP proof when the token is DPoP-bound, and gets a fresh server), JSON responses. The
 * one SSE answer is a `subscriptions/listen` stream (price-listen.ts), fed with
 * `notifications/resources/updated` for the price resource on every market tick. The route calls
 * `gate` first and `handle` only with what the gate returned.
 *
 * Both protocol eras are served by the same factory: 2025-era clients (initialize handshake, the
 * SDK client's and @ai-sdk/mcp's default) through a stateless JSON transport, 2026-07-28 clients
 * (per-request `_meta` envelope) through the SDK's createMcpHandler.
 */

/** Generous for three scalar arguments; keeps a hostile body from costing memory and CPU. */
export const MAX_BODY_BYTES = 64 * 1024;
/** JSON-RPC messages here are shallow; deep nesting only exercises recursive parsers. */
const MAX_JSON_DEPTH = 32;
/** Open price streams: per caller (an agent needs one; a few allow a reconnect overlapping the old stream), and in all. */
const MAX_STREAMS_PER_CALLER = 4;
const MAX_STREAMS = 256;

export interface McpEndpoint {
  gate(request: Request): Promise<AuthInfo | Response>;
  handle(request: Request, auth: AuthInfo): Promise<Response>;
  /** Open subscriptions/listen streams. */
  openStreams(): number;
  close(): Promise<void>;
}

export interface EndpointOptions {
  /** Replaces JWKS verification (the benchmark's "auth off" baseline). */
  verify?: TokenVerifier;
}

export function createMcpEndpoint(deps: BrokerDeps, options: EndpointOptions = {}): McpEndpoint {
  const { config } = deps;
  const metadataUrl = resourceMetadataUrl(config.mcp.resourceUrl);
  const verify: TokenVerifier = options.verify ?? verifierFor(verifyOptionsFor(config));
  const revocation = createRevocationCheck({ db: deps.db, identity: { agentId: config.agent.id, agentClientId: config.auth.agentClientId } });
  const unsubscribe = deps.bus.subscribe("agent-revocation", ({ record }) => revocation.invalidate(record));
  const gate = createGate({
    resourceUrl: config.mcp.resourceUrl,
    resourceMetadataUrl: metadataUrl,
    allowedOrigins: [new URL(config.publicUrl).origin, new URL(config.mcp.resourceUrl).origin],
    verify,
    proofs: createStoreReplayStore(deps.db),
    revoked: (principal) => revocation.refusal(principal),
  });

  const schemas = brokerSchemas(deps);
  const challengeSchema = challengeArgsSchema([config.market.symbol], config.mandate.maxQuantity);
  const factory: McpServerFactory = (ctx) => createBrokerServer(deps, schemas, principalOf(ctx.authInfo), ctx.era);
  const modern = createMcpHandler(factory, { legacy: "reject", responseMode: "json", maxRequestBodySize: MAX_BODY_BYTES, maxSubscriptions: MAX_STREAMS });
  const priceUri = priceResourceUri(config.market.symbol);
  const listen = createListenGuard({ knownUris: new Set([priceUri]), maxPerCaller: MAX_STREAMS_PER_CALLER, resourceMetadataUrl: metadataUrl });
  const stopTicks = deps.bus.subscribe("tick", () => modern.notify.resourceUpdated(priceUri));

  async function handle(request: Request, auth: AuthInfo): Promise<Response> {
    if (request.method !== "POST") {
      // Stateless: no standalone SSE stream (GET) and no session to end (DELETE).
      return jsonRpcErrorResponse(405, -32000, "Method not allowed: this server is stateless; POST JSON-RPC messages.", { Allow: "POST" });
    }
    if (!isJsonContentType(request.headers.get("content-type"))) {
      return jsonRpcErrorResponse(415, -32000, "Unsupported Media Type: Content-Type must be application/json.");
    }
    const body = await readRequestBody(request, MAX_BODY_BYTES).catch(() => undefined);
    if (!body) return jsonRpcErrorResponse(400, -32700, "Parse error: the request body could not be read.");
    if (body.tooLarge) return jsonRpcErrorResponse(413, -32000, `Request body larger than ${MAX_BODY_BYTES} bytes.`);
    const message = parseMessage(body.text);
    if (message instanceof Response) return message;

    try {
      // A trade the token cannot make is answered with the order it needs, before any tool runs.
      const principal = principalOf(auth);
      const challenge = principal && (await challengeTradeCall(deps, principal, message, { resourceMetadataUrl: metadataUrl, schema: challengeSchema }));
      if (challenge) return challenge;
      if (await isLegacyRequest(request, message, { maxRequestBodySize: MAX_BODY_BYTES })) {
        return await serveLegacy(request, auth, message);
      }
      if (message.method === "subscriptions/listen") {
        const principal = principalOf(auth);
        if (!principal) return jsonRpcErrorResponse(401, -32000, "No verified caller.");
        return await listen.serve(request, principal, message, (forwarded) => modern.fetch(forwarded, { authInfo: auth, parsedBody: message }));
      }
      return await modern.fetch(request, { authInfo: auth, parsedBody: message });
    } catch (error) {
      console.error("[mcp] request failed:", error instanceof Error ? error.message : "unknown error");
      return jsonRpcErrorResponse(500, -32603, "Internal error.");
    }
  }

  /** One 2025-era exchange: a fresh server on a stateless transport that answers with JSON. */
  async function serveLegacy(request: Request, auth: AuthInfo, message: unknown): Promise<Response> {
    const server = await factory({ era: "legacy", authInfo: auth, requestInfo: request });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: MAX_BODY_BYTES,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(request, { authInfo: auth, parsedBody: message });
    } finally {
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    }
  }

  return {
    gate,
    handle,
    openStreams: () => listen.openCount(),
    close: () => {
      unsubscribe();
      stopTicks();
      return modern.close();
    },
  };
}

/**
 * JWKS verification with settings computed once per endpoint, not per request; a token accepted
 * once is remembered for a minute at most (verified-tokens.ts).
 */
function verifierFor(verifyOptions: VerifyOptions): TokenVerifier {
  return cacheVerifiedTokens((token) => verifyAccessToken(token, verifyOptions));
}

/**
 * The body must be one JSON-RPC message: valid JSON, an object (batches were removed from MCP in
 * 2025-06-18), `jsonrpc: "2.0"`, not absurdly nested. The SDK validates the rest.
 */
function parseMessage(text: string): Record<string, unknown> | Response {
  if (jsonDepth(text) > MAX_JSON_DEPTH) return jsonRpcErrorResponse(400, -32600, "Invalid Request: nested too deeply.");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return jsonRpcErrorResponse(400, -32700, "Parse error: the body is not valid JSON.");
  }
  if (Array.isArray(value)) return jsonRpcErrorResponse(400, -32600, "Invalid Request: batches are not supported.");
  if (typeof value !== "object" || value === null || (value as { jsonrpc?: unknown }).jsonrpc !== "2.0") {
    return jsonRpcErrorResponse(400, -32600, "Invalid Request: expected one JSON-RPC 2.0 message.");
  }
  return value as Record<string, unknown>;
}

/** The deepest bracket nesting outside strings, counted before JSON.parse sees the text. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) max = Math.max(max, ++depth);
    else if (c === 125 || c === 93) depth--;
  }
  return max;
}

const endpoints = new WeakMap<BrokerDeps, McpEndpoint>();

/** The endpoint for a running app, created once per runtime. */
export function mcpEndpointFor(deps: BrokerDeps): McpEndpoint {
  let endpoint = endpoints.get(deps);
  if (!endpoint) {
    endpoint = createMcpEndpoint(deps);
    endpoints.set(deps, endpoint);
  }
  return endpoint;
}
