import { asInvestor } from "../helpers/investor-session";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAppWithTestIssuer, type AppServer } from "../helpers/app-server";
import type { TestIssuer } from "../helpers/jwks-server";

/**
 * A bounded fuzz pass over /mcp on loopback: 1,200 malformed or hostile JSON-RPC bodies, tool
 * arguments and headers, sent with real tokens (including an on-behalf-of token that may trade,
 * but only an order that can never match). The server must never answer 5xx, must stay alive and
 * the ledger must not change. The generator is seeded, so a failure is reproducible (the seed is
 * printed).
 */

const COUNT = 1200;
const CONCURRENCY = 8;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

let issuer: TestIssuer;
let app: AppServer;
let tokens: string[];
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ issuer, app, stop } = await startAppWithTestIssuer());
  const unmatchable = {
    type: "stock_trade",
    order_id: "ord_FUZZfuzzFUZZfuzz0001",
    symbol: "NVDA",
    side: "buy",
    quantity: 5,
    limit_price: "0.01",
    max_notional: "0.05",
    expires_at: new Date(Date.now() + 3_600_000).toISOString(),
  };
  tokens = [
    await issuer.mint({ sub: "aurelius", scope: "openid stock:read" }),
    await issuer.mint({ sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", authorization_details: [unmatchable] }),
    // No authorization_details: the recorded-approval rule, with no order in the store.
    await issuer.mint({ sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade" }),
  ];
});

afterAll(async () => {
  await stop?.();
});

/** mulberry32: small, fast, seedable. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const TOOLS = ["get_market_price", "list_symbols", "get_portfolio", "get_trade_history", "buy_stock", "sell_stock", "nope", "", "buy_stock\u0000"];
const METHODS = ["tools/call", "tools/list", "initialize", "ping", "notifications/initialized", "resources/list", "prompts/get", "server/discover", "subscriptions/listen", "completion/complete", "x", ""];

function fuzzCase(r: ReturnType<typeof prng>): { body: string; headers: Record<string, string> } {
  const str = () =>
    r.pick([
      "",
      "NVDA",
      "nvda",
      "ord_FUZZfuzzFUZZfuzz0001",
      "ord_" + "A".repeat(r.int(60)),
      "' OR 1=1 --",
      "\u0000\ud800",
      "<script>",
      "🚀".repeat(r.int(20)),
      "x".repeat(r.int(2000)),
      "../../etc/passwd",
      "__proto__",
    ]);
  const num = () => r.pick([0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 31, 999999, Number.MIN_VALUE, 1000, 1001]);
  const scalar = (): unknown => r.pick([str, num, () => null, () => true, () => false, () => [], () => ({})])();
  const value = (depth = 0): unknown => {
    if (depth > 3 || r.next() < 0.5) return scalar();
    if (r.next() < 0.5) return Array.from({ length: r.int(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(["symbol", "quantity", "order_id", "limit", "x", "__proto__", "constructor"]), value(depth + 1)]));
  };
  const args = (): unknown => {
    if (r.next() < 0.15) return value();
    const a: Record<string, unknown> = {};
    if (r.next() < 0.8) a.symbol = r.next() < 0.5 ? "NVDA" : scalar();
    if (r.next() < 0.8) a.quantity = r.next() < 0.4 ? r.int(10) + 1 : scalar();
    if (r.next() < 0.8) a.order_id = r.next() < 0.5 ? "ord_FUZZfuzzFUZZfuzz0001" : scalar();
    if (r.next() < 0.2) a[str()] = scalar();
    if (r.next() < 0.2) a.limit = scalar();
    return a;
  };
  const id = () => r.pick<unknown>([1, 0, -1, "a", null, 1.5, {}, [], 2 ** 60, "x".repeat(300)]);

  let body: string;
  const kind = r.int(10);
  if (kind === 0) body = r.pick(["", "{", "}", "[", "null", "1", '"x"', "{\"jsonrpc\":", "\u0000", "{'a':1}", "[]", "{}", "\ufeff{}"]);
  else if (kind === 1) body = (r.next() < 0.5 ? "[" : "{\"a\":").repeat(r.int(5000) + 33);
  else if (kind === 2) body = JSON.stringify(value());
  else if (kind === 3) body = JSON.stringify(Array.from({ length: r.int(5) + 1 }, () => ({ jsonrpc: "2.0", id: id(), method: r.pick(METHODS), params: { name: r.pick(TOOLS), arguments: args() } })));
  else if (kind === 4) {
    body = JSON.stringify({ jsonrpc: r.pick(["2.0", "2.0", "1.0", 2, null]), id: id(), method: r.pick(METHODS), params: r.next() < 0.3 ? value() : { name: r.pick(TOOLS), arguments: args() } });
  } else if (kind === 5) {
    // A modern (2026-07-28) envelope with hostile _meta.
    body = JSON.stringify({
      jsonrpc: "2.0",
      id: id(),
      method: r.pick(METHODS),
      params: { name: r.pick(TOOLS), arguments: args(), _meta: r.next() < 0.5 ? value() : { "io.modelcontextprotocol/protocolVersion": r.pick(["2026-07-28", "2025-06-18", "9999-01-01", 1, null]) } },
    });
  } else {
    // Well-formed envelopes, so most of these reach the tools and their argument checks.
    body = JSON.stringify({ jsonrpc: "2.0", id: r.next() < 0.9 ? r.int(1000) : id(), method: "tools/call", params: { name: r.pick(TOOLS), arguments: args() } });
  }

  const headers: Record<string, string> = {
    "content-type": r.next() < 0.9 ? "application/json" : r.pick(["text/plain", "application/json; charset=utf-16", "", "application/jsonx"]),
    accept: r.next() < 0.9 ? "application/json, text/event-stream" : r.pick(["*/*", "text/html", "application/json"]),
    authorization: `Bearer ${r.next() < 0.95 ? r.pick(tokens) : r.pick(["", "x", "a.b.c", tokens[1]!.slice(0, -3)])}`,
  };
  if (r.next() < 0.2) headers["mcp-protocol-version"] = r.pick(["2025-06-18", "2025-11-25", "2026-07-28", "1999-01-01", "x", ""]);
  if (r.next() < 0.1) headers["mcp-session-id"] = r.pick(["abc", "", "x".repeat(100)]);
  if (r.next() < 0.1) headers["mcp-method"] = r.pick(METHODS);
  return { body, headers };
}

async function ledger() {
  const state = (await (await asInvestor(app.url, "/api/state")).json()) as { trades: unknown[]; portfolio: { cashCents: number; holdings: unknown[] } };
  return { trades: state.trades.length, cash: state.portfolio.cashCents, holdings: state.portfolio.holdings.length };
}

describe(`fuzzing /mcp (seed ${SEED})`, () => {
  it(`answers ${COUNT} malformed requests without a 5xx and without touching the ledger`, async () => {
    console.log(`[fuzz] seed ${SEED} (set FUZZ_SEED to replay)`);
    const before = await ledger();
    const r = prng(SEED);
    const cases = Array.from({ length: COUNT }, () => fuzzCase(r));
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i]!;
        const res = await fetch(`${app.url}/mcp`, { method: "POST", headers: c.headers, body: c.body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) failures.push(`#${i} ${res.status}: ${c.body.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log(`[fuzz] statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);

    expect(failures).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    // The pass reached the tools, not only the outer checks.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(COUNT / 10);
    expect((await fetch(`${app.url}/api/health`)).status).toBe(200);
    expect(await ledger()).toEqual(before);

    const alive = await fetch(`${app.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${tokens[0]}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: "NVDA" } } }),
    });
    expect(alive.status).toBe(200);
    expect(((await alive.json()) as { result: { structuredContent: { symbol: string } } }).result.structuredContent.symbol).toBe("NVDA");
  });
});
