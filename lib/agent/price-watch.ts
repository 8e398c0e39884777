import "server-only";
import type { Client } from "@modelcontextprotocol/client";

/**
 * The agent's subscription to the price resource: a `subscriptions/listen` stream (MCP
 * 2026-07-28) opened with the agent's read token, like every other /mcp request. Each
 * `notifications/resources/updated` for the URI calls `onUpdate`, and the agent checks the price
 * at once instead of at its next timer tick.
 *
 * The stream ends when the server closes it (its token expired, a restart), when the connection
 * drops, or when a listen is refused. The watch then listens again after a backoff (0.25 s
 * doubling to 30 s, back to the start once a stream has stayed open for a minute), with whatever
 * token the agent holds by then. While it is down, the agent's slower timer keeps it working;
 * after each (re)connection `onUpdate` runs once, for the ticks missed in between. `retryNow`
 * cuts a backoff short when the agent learns the server answers again (a price read or a token
 * succeeded), so a watch that started before the server listened does not wait out its backoff.
 */
export interface PriceWatchEvents {
  onUpdate(): void;
  /** The stream is open (true) or was lost (false, with the reason). Called on changes only. */
  onState?(live: boolean, reason?: string): void;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;
const STABLE_MS = 60_000;

export class PriceWatch {
  private stopped = false;
  private live = false;
  private readonly stop = new AbortController();
  private wake: AbortController | undefined;
  private skipBackoff = false;
  private readonly running: Promise<void>;

  constructor(
    private readonly uri: string,
    private readonly events: PriceWatchEvents,
    private readonly connect: () => Promise<Client>,
    private readonly backoff = { firstMs: FIRST_RETRY_MS, maxMs: MAX_RETRY_MS },
  ) {
    this.running = this.loop();
  }

  get connected(): boolean {
    return this.live;
  }

  /** Ends a backoff in progress at once, or skips the next one when called while connecting. */
  retryNow(): void {
    if (this.live) return;
    if (this.wake) this.wake.abort();
    else this.skipBackoff = true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.stop.abort();
    await this.running;
    this.live = false;
  }

  private async loop(): Promise<void> {
    let retry = this.backoff.firstMs;
    while (!this.stopped) {
      const opened = Date.now();
      const reason = await this.listenOnce();
      // Closed on purpose: not a lost subscription.
      if (this.stopped) return;
      this.setLive(false, reason);
      if (Date.now() - opened >= STABLE_MS) retry = this.backoff.firstMs;
      if (this.skipBackoff) {
        this.skipBackoff = false;
        continue;
      }
      this.wake = new AbortController();
      await sleep(retry, AbortSignal.any([this.stop.signal, this.wake.signal]));
      this.wake = undefined;
      retry = Math.min(retry * 2, this.backoff.maxMs);
    }
  }

  /** One stream, from connect to its end; resolves with why it ended. */
  private async listenOnce(): Promise<string> {
    let client: Client | undefined;
    try {
      client = await this.connect();
      if (this.stopped) return "closed";
      client.setNotificationHandler("notifications/resources/updated", (note) => {
        if (note.params.uri === this.uri) this.events.onUpdate();
      });
      const subscription = await client.listen({ resourceSubscriptions: [this.uri] }, { signal: this.stop.signal });
      if (!subscription.honoredFilter.resourceSubscriptions?.includes(this.uri)) return "the server does not offer the subscription";
      this.setLive(true);
      this.events.onUpdate();
      const stopped = new Promise<"local">((resolve) => this.stop.signal.addEventListener("abort", () => resolve("local"), { once: true }));
      const ended = await Promise.race([subscription.closed, stopped]);
      await subscription.close().catch(() => undefined);
      return `the stream ended (${ended})`;
    } catch (error) {
      return error instanceof Error ? error.message.slice(0, 200) : "unknown error";
    } finally {
      await client?.close().catch(() => undefined);
    }
  }

  private setLive(live: boolean, reason?: string): void {
    if (live) this.skipBackoff = false;
    if (this.live === live) return;
    this.live = live;
    this.events.onState?.(live, reason);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
