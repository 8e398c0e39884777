import type { AppEventName } from "@/lib/events/bus";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

const FORWARDED: AppEventName[] = ["tick", "activity", "ledger", "agent", "mail"];
const HEARTBEAT_MS = 15_000;

/**
 * GET /api/events — the one Server-Sent Events stream behind the live dashboard. Each bus event
 * becomes an SSE event of the same name with a JSON payload; a comment line every 15 s keeps
 * proxies from closing an idle stream; `retry` tells the browser to reconnect after 2 s.
 */
export async function GET(request: Request): Promise<Response> {
  const rt = await getRuntime();
  const encoder = new TextEncoder();
  const unsubscribers: Array<() => void> = [];
  let heartbeat: NodeJS.Timeout | undefined;

  const cleanup = () => {
    clearInterval(heartbeat);
    for (const off of unsubscribers.splice(0)) off();
  };

  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          cleanup();
        }
      };
      send(`retry: 2000\n: connected\n\n`);
      send(`event: tick\ndata: ${JSON.stringify(rt.market.snapshot())}\n\n`);
      for (const name of FORWARDED) {
        unsubscribers.push(rt.bus.subscribe(name, (payload) => send(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`)));
      }
      heartbeat = setInterval(() => send(`: ping\n\n`), HEARTBEAT_MS);
      request.signal.addEventListener("abort", () => {
        cleanup();
        try {
          controller.close();
        } catch {
          // already closed
        }
      });
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
