import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PriceWatch } from "../../lib/agent/price-watch";
import { AGENT_CLAIMS } from "../helpers/jwks-server";
import { inProcessFetch, startInProcessMcp, type InProcessMcp } from "../helpers/mcp-in-process";

/**
 * The agent's price watch against the real /mcp endpoint in-process, with the real SDK client:
 * it calls back on each price update, and when its stream ends (here: the token that opened it
 * expires, and the server closes it) or a listen is refused, it listens again after a backoff
 * with the token it is given then, and calls back once on reconnecting.
 */
const URL_BASE = "http://127.0.0.1:3998";
let mcp: InProcessMcp;

beforeAll(async () => {
  mcp = await startInProcessMcp(URL_BASE);
});
afterAll(async () => {
  await mcp?.stop();
});

function connectWith(tokens: () => Promise<string>): () => Promise<Client> {
  return async () => {
    const client = new Client({ name: "watch-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${URL_BASE}/mcp`), { authProvider: { token: tokens }, fetch: inProcessFetch(mcp.endpoint) }));
    return client;
  };
}

async function ticksUntil(ok: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await mcp.broker.market.tick();
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("PriceWatch", () => {
  it("calls back on updates, and listens again with a new token when the stream ends", async () => {
    const states: string[] = [];
    // Until the first stream is open, a new token that lives 4 s for each request (the server
    // ends that stream when it expires); from then on, one that lives an hour.
    let long: string | undefined;
    const tokens = async () => {
      if (!states.includes("live")) return mcp.issuer.mint(AGENT_CLAIMS, { expiresIn: 4 });
      long ??= await mcp.issuer.mint(AGENT_CLAIMS, { expiresIn: 3600 });
      return long;
    };
    let updates = 0;
    const watch = new PriceWatch("market://NVDA/price", { onUpdate: () => updates++, onState: (live) => states.push(live ? "live" : "lost") }, connectWith(tokens));
    try {
      // The first call comes on connecting; the second is a market tick's notification.
      await ticksUntil(() => watch.connected && updates >= 2, "an update on the first stream");
      // The first token expires 4 s after it is minted; a loaded machine may take much longer to reconnect.
      await ticksUntil(() => states.length >= 3, "the stream to end and come back", 60_000);
      expect(states.slice(0, 3)).toEqual(["live", "lost", "live"]);
      expect(long).toBeDefined();
      const after = updates;
      await ticksUntil(() => updates >= after + 2, "updates on the second stream");
      expect(mcp.endpoint.openStreams()).toBe(1);
    } finally {
      await watch.close();
    }
    expect(watch.connected).toBe(false);
  }, 120_000);

  it("closing a live stream on purpose is not reported as a lost subscription", async () => {
    const states: string[] = [];
    const token = await mcp.issuer.mint(AGENT_CLAIMS, { expiresIn: 3600 });
    const watch = new PriceWatch("market://NVDA/price", { onUpdate: () => undefined, onState: (live) => states.push(live ? "live" : "lost") }, connectWith(async () => token));
    await ticksUntil(() => watch.connected, "the stream to open");
    await watch.close();
    expect(states).toEqual(["live"]);
    expect(watch.connected).toBe(false);
  });

  it("retryNow ends a backoff at once", async () => {
    const token = await mcp.issuer.mint(AGENT_CLAIMS, { expiresIn: 3600 });
    const connect = connectWith(async () => token);
    let attempts = 0;
    // Refused (unknown resource), then a 10-minute backoff: only retryNow can bring the next attempt.
    const watch = new PriceWatch("market://AAPL/price", { onUpdate: () => undefined }, async () => {
      attempts++;
      return connect();
    }, { firstMs: 600_000, maxMs: 600_000 });
    try {
      await ticksUntil(() => attempts === 1, "the first attempt", 10_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(attempts).toBe(1);
      // Whether the refusal has come back yet (a backoff under way) or not (it skips the next one).
      watch.retryNow();
      await ticksUntil(() => attempts === 2, "the attempt retryNow brings", 10_000);
    } finally {
      await watch.close();
    }
  });

  it("keeps trying after refusals (an unknown resource here) and stops when closed", async () => {
    const token = await mcp.issuer.mint(AGENT_CLAIMS, { expiresIn: 3600 });
    let attempts = 0;
    const connect = connectWith(async () => token);
    const states: string[] = [];
    const watch = new PriceWatch("market://AAPL/price", { onUpdate: () => undefined, onState: (live) => states.push(live ? "live" : "lost") }, async () => {
      attempts++;
      return connect();
    });
    await ticksUntil(() => attempts >= 3, "three attempts", 10_000);
    await watch.close();
    const closedAt = attempts;
    await new Promise((r) => setTimeout(r, 600));
    expect(attempts).toBe(closedAt);
    expect(states).toEqual([]);
    expect(mcp.endpoint.openStreams()).toBe(0);
  });
});
