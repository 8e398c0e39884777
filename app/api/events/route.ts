import type { AppEventName } from "@/lib/events/bus";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

const FORWARDED: AppEventName[] = ["tick", "activity", "ledger", "agent", "mail"];
/** What anyone may follow; the rest is an investor's and needs her session. */
const PUBLIC: ReadonlySet<AppEventName> = new Set(["tick"]);
const HEARTBEAT_MS = 15_000;
const encoder = new TextEncoder();

/**
 * Each bus event's SSE bytes, encoded once however many streams are open. Keyed by the payload
 * object (the bus publishes a fresh object per event), one map per event name.
 */
const encodedEvents = new Map(FORWARDED.map((name) => [name, new WeakMap<object, Uint8Array>()]));

function encodeEvent(name: AppEventName, payload: object): Uint8Array {
  const cache = encodedEvents.get(name)!;
  let bytes = cache.get(payload);
  if (!bytes) {
    bytes = encoder.encode(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`);
    cache.set(payload, bytes);
  }
  return bytes;
}

/**
 * GET /api/events — the one Server-Sent Events stream behind the live dashboard. Each bus event
 * becomes an SSE event of the same name with a JSON payload; a comment line every 15 s keeps
 * proxies from closing an idle stream; `retry` tells the browser to reconnect after 2 s.
 *
 * Without an investor's session the stream carries only the market's ticks. With it, the events
 * that are hers or everyone's (an event naming another investor's `userSub` is not sent); the
 * session is checked again at every heartbeat, and a stream whose session ended (signed out,
 * expired) closes, so the browser reconnects as a stranger.
 */
export async function GET(request: Request): Promise<Response> {
  const rt = await getRuntime();
  const cookieHeader = request.headers.get("cookie");
  const sub = (await rt.signIn.current(cookieHeader))?.sub;
  const signedIn = sub !== undefined;
  const unsubscribers: Array<() => void> = [];
  let heartbeat: NodeJS.Timeout | undefined;

  const cleanup = () => {
    clearInterval(heartbeat);
    for (const off of unsubscribers.splice(0)) off();
  };

  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const sendBytes = (bytes: Uint8Array) => {
        try {
          controller.enqueue(bytes);
        } catch {
          cleanup();
        }
      };
      const send = (text: string) => sendBytes(encoder.encode(text));
      send(`retry: 2000\n: connected\n\n`);
      send(`event: tick\ndata: ${JSON.stringify(rt.market.snapshot())}\n\n`);
      for (const name of FORWARDED) {
        if (!signedIn && !PUBLIC.has(name)) continue;
        unsubscribers.push(
          rt.bus.subscribe(name, (payload) => {
            const owner = (payload as { userSub?: string }).userSub;
            if (owner === undefined || owner === sub) sendBytes(encodeEvent(name, payload));
          }),
        );
      }
      const close = () => {
        cleanup();
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
      heartbeat = setInterval(() => {
        if (!signedIn) return send(`: ping\n\n`);
        // A session that cannot be checked counts as ended: the browser reconnects and is asked again.
        rt.signIn.current(cookieHeader).then((session) => (session?.sub === sub ? send(`: ping\n\n`) : close()), close);
      }, HEARTBEAT_MS);
      request.signal.addEventListener("abort", close);
    },
    cancel: cleanup,
  });

  return new Response(stream, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    },
  });
}
