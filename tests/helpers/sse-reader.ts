/** Reads an app's /api/events stream as a dashboard would, keeping every event it receives. */
export interface SseEvent {
  event: string;
  data: unknown;
  /** When the reader received it (ms since the epoch). */
  at: number;
}

export interface SseReader {
  events: SseEvent[];
  close(): void;
}

/** Reads an SSE stream; `headers` (e.g. Alice's session cookie) go with the request. */
export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream", ...headers } });
  if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status}`);
  const events: SseEvent[] = [];
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name && data !== undefined) events.push({ event: name, data: JSON.parse(data), at: Date.now() });
        }
      }
    } catch {
      // closed
    }
  })();
  return { events, close: () => abort.abort() };
}
