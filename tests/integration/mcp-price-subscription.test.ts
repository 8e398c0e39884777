import { Client, StreamableHTTPClientTransport, type McpSubscription } from "@modelcontextprotocol/client";
import type { JWTPayload } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, startAppWithTestIssuer } from "../helpers/app-server";
import { AGENT_CLAIMS, type TestIssuer } from "../helpers/jwks-server";

/**
 * The price subscription at /mcp over real HTTP, against the built app, with the real SDK client:
 * `subscriptions/listen` (MCP 2026-07-28) for `market://NVDA/price`, answered by an SSE stream of
 * `notifications/resources/updated` on every market tick. Refusals first: the listen request
 * passes the same gate as every /mcp call, needs stock:read, names only known resources, cannot
 * be ended or joined by another client, and ends with its token.
 */

const PRICE = "market://NVDA/price";
let issuer: TestIssuer;
let mcpUrl: string;
let metadataUrl: string;
let stop: (() => Promise<void>) | undefined;
const clients: Client[] = [];

beforeAll(async () => {
  ({ issuer, mcpUrl, metadataUrl, stop } = await startAppWithTestIssuer());
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(async () => {
  await stop?.();
});

const mint = (claims: JWTPayload = AGENT_CLAIMS, options?: Parameters<TestIssuer["mint"]>[1]) => issuer.mint(claims, options);

interface Seen {
  status: number;
  wwwAuthenticate: string | null;
  body: string;
}

/**
 * A real 2026-07-28 client whose token is asked for on every request: it connects with `connectWith`,
 * then presents `token.current` (undefined: no Authorization header). Every answer to a listen
 * request is recorded (status, challenge, and the body of anything that is not a stream).
 */
async function modernClient(connectWith: string) {
  const token: { current: string | undefined } = { current: connectWith };
  const listens: Seen[] = [];
  const fetchRecording = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    const body = typeof init?.body === "string" ? init.body : "";
    if (body.includes('"subscriptions/listen"')) {
      const streaming = response.headers.get("content-type")?.startsWith("text/event-stream");
      listens.push({ status: response.status, wwwAuthenticate: response.headers.get("www-authenticate"), body: streaming ? "" : await response.clone().text() });
    }
    return response;
  };
  const client = new Client({ name: "subscription-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: { token: async () => token.current }, fetch: fetchRecording }));
  clients.push(client);
  const updates: string[] = [];
  client.setNotificationHandler("notifications/resources/updated", (note) => void updates.push(note.params.uri));
  return { client, token, listens, updates };
}

async function until(ok: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const invalidToken = () => new RegExp(`^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${metadataUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`);

describe("who may subscribe", () => {
  it.each<[string, number, () => Promise<string | undefined>, () => string | RegExp]>([
    ["no token", 401, async () => undefined, () => `Bearer scope="stock:read", resource_metadata="${metadataUrl}"`],
    ["a token for another audience", 401, () => mint(AGENT_CLAIMS, { audience: "https://other.example/mcp" }), invalidToken],
    ["an expired token", 401, () => mint(AGENT_CLAIMS, { expiresIn: -60 }), invalidToken],
    ["a token without stock:read", 403, () => mint({ ...AGENT_CLAIMS, scope: "openid" }), () => `Bearer error="insufficient_scope", error_description="subscriptions/listen needs the stock:read scope", scope="stock:read", resource_metadata="${metadataUrl}"`],
  ])("%s: refused with %i and its challenge, and no stream", async (_name, status, make, challenge) => {
    const { client, token, listens, updates } = await modernClient(await mint());
    token.current = await make();
    await expect(client.listen({ resourceSubscriptions: [PRICE] })).rejects.toThrow();
    expect(listens).toHaveLength(1);
    expect(listens[0]!.status).toBe(status);
    const expected = challenge();
    if (typeof expected === "string") expect(listens[0]!.wwwAuthenticate).toBe(expected);
    else expect(listens[0]!.wwwAuthenticate).toMatch(expected);
    expect(updates).toEqual([]);
  });

  it("an unknown resource: the spec's resource-not-found error (-32602 with the uri), no stream", async () => {
    const { client, listens } = await modernClient(await mint());
    const refused = await client.listen({ resourceSubscriptions: [PRICE, "market://AAPL/price"] }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: -32602, data: { uri: "market://AAPL/price" } });
    expect(listens[0]).toMatchObject({ status: 200 });
    expect(JSON.parse(listens[0]!.body)).toMatchObject({ error: { code: -32602, message: "Resource not found: market://AAPL/price" } });
  });

  it("a 2025-era client: resources/subscribe is not offered on this stateless server (method not found)", async () => {
    const client = new Client({ name: "legacy", version: "1.0.0" });
    const token = await mint();
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    clients.push(client);
    expect(client.getServerCapabilities()?.resources?.subscribe).toBeFalsy();
    await expect(client.subscribeResource({ uri: PRICE })).rejects.toMatchObject({ code: -32601 });
  });
});

describe("the stream", () => {
  it("delivers an update for the price on the market's ticks, and the resource reads with stock:read", async () => {
    const { client, updates } = await modernClient(await mint());
    const subscription = await client.listen({ resourceSubscriptions: [PRICE] });
    expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: [PRICE] });
    await until(() => updates.length >= 2, "two price updates");
    expect(new Set(updates)).toEqual(new Set([PRICE]));
    const read = await client.readResource({ uri: PRICE });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ symbol: "NVDA", currency: "USD", price: expect.stringMatching(/^\d+\.\d{2}$/) });
    await subscription.close();
  });

  it("another client cannot end it, join it or read it: a cancel naming its id changes nothing, a GET gets no stream", async () => {
    const alice = await modernClient(await mint());
    const victim = await alice.client.listen({ resourceSubscriptions: [PRICE] });
    const mallory = await modernClient(await mint({ sub: "mallory", scope: "openid stock:read", client_id: "mallory-app" }));
    // The client numbers its listen requests listen:1, listen:2, ...: Mallory can guess Alice's id.
    for (const requestId of ["listen:1", "listen:2", "listen:3"]) {
      const res = await fetch(mcpUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${mallory.token.current}`, "mcp-protocol-version": "2026-07-28" },
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "hijack" } }),
      });
      expect(res.status).toBeLessThan(300);
    }
    const attach = await fetch(mcpUrl, { headers: { accept: "text/event-stream", authorization: `Bearer ${mallory.token.current}`, "mcp-session-id": "listen:1" } });
    expect(attach.status).toBe(405);
    expect(attach.headers.get("content-type")).not.toMatch(/event-stream/);
    const before = alice.updates.length;
    await until(() => alice.updates.length >= before + 2, "updates on Alice's stream after Mallory's attempts");
    expect(mallory.updates).toEqual([]);
    let ended: string | undefined;
    void victim.closed.then((why) => (ended = why));
    await victim.close();
    await until(() => ended !== undefined, "Alice's own close");
    expect(ended).toBe("local");
  });

  it("ends when its token expires", async () => {
    const { client } = await modernClient(await mint(AGENT_CLAIMS, { expiresIn: 4 }));
    const subscription: McpSubscription = await client.listen({ resourceSubscriptions: [PRICE] });
    let ended: string | undefined;
    void subscription.closed.then((why) => (ended = why));
    await until(() => ended !== undefined, "the stream to end", 30_000);
    expect(ended).toBe("remote");
  });

  it("at most 4 open streams per client and subject; a closed one frees its place", async () => {
    const { client, listens } = await modernClient(await mint());
    const open: McpSubscription[] = [];
    for (let i = 0; i < 4; i++) open.push(await client.listen({ resourceSubscriptions: [PRICE] }));
    const fifth = await client.listen({ resourceSubscriptions: [PRICE] }).catch((e: unknown) => e);
    expect(fifth).toMatchObject({ code: -32603 });
    expect(JSON.parse(listens.at(-1)!.body)).toMatchObject({ error: { message: expect.stringMatching(/^Subscription limit reached/) } });
    // Another subject is not limited by this one's streams.
    const other = await modernClient(await mint({ sub: "bob", scope: "openid stock:read", client_id: "bob-app" }));
    const theirs = await other.client.listen({ resourceSubscriptions: [PRICE] });
    await theirs.close();
    await open.pop()!.close();
    // The server frees the place when it sees the stream closed: try again until it has.
    let again: McpSubscription | undefined;
    const deadline = Date.now() + 10_000;
    while (!again && Date.now() < deadline) {
      again = await client.listen({ resourceSubscriptions: [PRICE] }).catch(() => undefined);
      if (!again) await new Promise((r) => setTimeout(r, 100));
    }
    expect(again).toBeDefined();
    for (const s of [...open, again!]) await s.close();
  });
});
