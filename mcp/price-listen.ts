import "server-only";
import { bearerChallenge } from "./challenge";
import { SCOPE_READ } from "../lib/protocol";
import type { Principal } from "../lib/protected-resource/principal";

/**
 * `subscriptions/listen` (MCP 2026-07-28, the stateless successor of `resources/subscribe` and the
 * GET stream): one POST whose answer is an SSE stream of the change notifications the client
 * asked for. The SDK's handler serves the stream; this guard decides first whether it may open,
 * since the SDK answers a listen before any per-tool or per-resource scope check:
 *
 * 1. The caller passed the gate like any /mcp request (Origin, token, audience, expiry, DPoP).
 * 2. The token must carry stock:read, the scope that reads the price → else 403
 *    `insufficient_scope` (the same challenge a read tool gives).
 * 3. Every URI in `resourceSubscriptions` must be a resource this server has → else the spec's
 *    "resource not found" (JSON-RPC -32602 with `data.uri`, the SDK's ResourceNotFoundError).
 * 4. At most `maxPerCaller` open streams per (client, subject) → else JSON-RPC -32603, as the
 *    SDK's own global limit answers.
 * 5. The stream ends when the token expires: a listen is authorized once, so it must not outlive
 *    the token that authorized it. The client listens again with its renewed token.
 *
 * There is no session: a stream belongs to the request that opened it, so no other client can
 * attach to it, and it is gone when either side closes it.
 */

export interface ListenGuardOptions {
  /** The resource URIs a client may subscribe to. */
  knownUris: ReadonlySet<string>;
  maxPerCaller: number;
  resourceMetadataUrl: string;
  now?: () => number;
}

export type ListenForward = (request: Request) => Promise<Response>;

export interface ListenGuard {
  serve(request: Request, principal: Principal, message: Record<string, unknown>, forward: ListenForward): Promise<Response>;
  /** Open streams per caller (tests, benchmark). */
  openCount(): number;
}

export function createListenGuard(options: ListenGuardOptions): ListenGuard {
  const open = new Map<string, number>();
  const now = options.now ?? Date.now;

  const release = (key: string) => {
    const n = (open.get(key) ?? 1) - 1;
    if (n <= 0) open.delete(key);
    else open.set(key, n);
  };

  return {
    openCount: () => [...open.values()].reduce((a, b) => a + b, 0),
    async serve(request, principal, message, forward) {
      if (!principal.scopes.includes(SCOPE_READ)) return insufficientScope(options.resourceMetadataUrl);
      const unknown = requestedUris(message).find((uri) => !options.knownUris.has(uri));
      if (unknown !== undefined) {
        return jsonRpcError(message.id, -32602, `Resource not found: ${unknown}`, { uri: unknown });
      }
      const key = `${principal.clientId ?? ""}\u0000${principal.sub}`;
      if ((open.get(key) ?? 0) >= options.maxPerCaller) {
        return jsonRpcError(message.id, -32603, `Subscription limit reached: at most ${options.maxPerCaller} open streams per client.`);
      }

      const ends = new AbortController();
      const untilExpiry = principal.expiresAt * 1000 - now();
      if (untilExpiry <= 0) return jsonRpcError(message.id, -32603, "The token has expired.");
      const expiry = setTimeout(() => ends.abort(new Error("token expired")), untilExpiry);
      expiry.unref?.();
      // The body was read and parsed already: the SDK takes it as parsedBody. The stream ends
      // when the client goes away (the request's signal) or the token expires.
      const signal = AbortSignal.any([request.signal, ends.signal]);
      const forwarded = new Request(request.url, { method: "POST", headers: request.headers, signal });
      open.set(key, (open.get(key) ?? 0) + 1);
      let released = false;
      // Refers to `signal`, so the composite signal lives as long as the stream that needs it.
      const done = () => {
        if (released) return;
        released = true;
        clearTimeout(expiry);
        signal.removeEventListener("abort", done);
        release(key);
      };
      let response: Response;
      try {
        response = await forward(forwarded);
      } catch (error) {
        done();
        throw error;
      }
      if (!response.body || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
        done();
        return response;
      }
      signal.addEventListener("abort", done, { once: true });
      return new Response(counted(response.body, done), { status: response.status, headers: response.headers });
    },
  };
}

/** The `resourceSubscriptions` of a listen request's filter, as far as they are strings. */
function requestedUris(message: Record<string, unknown>): string[] {
  const params = message.params as { notifications?: { resourceSubscriptions?: unknown } } | undefined;
  const uris = params?.notifications?.resourceSubscriptions;
  return Array.isArray(uris) ? uris.filter((u): u is string => typeof u === "string") : [];
}

/** The body as it is, calling `done` once when it ends, fails or the reader cancels it. */
function counted(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: ended } = await reader.read();
        if (ended) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    async cancel(reason) {
      done();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

function insufficientScope(resourceMetadata: string): Response {
  const description = `subscriptions/listen needs the ${SCOPE_READ} scope`;
  return Response.json(
    { error: "insufficient_scope", error_description: description },
    {
      status: 403,
      headers: {
        "Cache-Control": "no-store",
        "WWW-Authenticate": bearerChallenge({ error: "insufficient_scope", description, scope: SCOPE_READ, resourceMetadata }),
      },
    },
  );
}

/** An error answer to one request, in band (HTTP 200), as the SDK's listen router answers its own refusals. */
function jsonRpcError(id: unknown, code: number, message: string, data?: unknown): Response {
  return Response.json({ jsonrpc: "2.0", id: id ?? null, error: { code, message, ...(data === undefined ? {} : { data }) } }, { headers: { "Cache-Control": "no-store" } });
}
