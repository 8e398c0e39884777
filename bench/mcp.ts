/**
 * The cost of the MCP server: tool calls per second and p50/p99 latency of `get_market_price` over
 * loopback HTTP, in one run, for
 *
 *   - bare:            the MCP SDK alone, as its examples serve a stateless server: per request an
 *                      McpServer with one get_market_price tool reading the same market and a
 *                      WebStandardStreamableHTTPServerTransport answering JSON: no gate, no audit;
 *   - auth:            this endpoint's gate (Origin, header, JWT verified against the JWKS) in
 *                      front of that bare handler: the cost of authentication alone;
 *   - jwt-verified:    the real endpoint (gate → body limits → JSON-RPC → McpServer → tool →
 *                      audit record in the hash chain): auth + audit;
 *   - dpop-verified:   the same with a DPoP-bound token and a fresh proof per call (RFC 9449: proof
 *                      signature, htm/htu/iat/ath/jkt, the proof's jti recorded once in the store;
 *                      the proofs are signed before the clock starts, so the figure is the
 *                      server's cost);
 *   - no-verification: the real endpoint with a stub verifier returning the same principal
 *                      (audit, no JWT check);
 *   - no-audit:        the real endpoint (JWT verified) over a store that drops writes: all of
 *                      it but the audit record;
 *   - jwt-fresh:       jwt-verified with a new token per call, so that no call is answered from
 *                      the cache of accepted tokens (mcp/verified-tokens.ts).
 *
 * It prints the ratio of each to the bare handler's calls/s, and of calls per CPU-second (this
 * process's CPU time per call: the load generator's share is the same in every variant).
 *
 * Where the time goes. Measured on a 2-core machine shared with other builds and tests (load
 * average 9-16), so single figures move by 2x between runs; read the ratios within one run, and
 * the CPU-per-call column, which moves less. One run at load 4-5 before the audit's group commit
 * (2000 calls per variant, median of 8 slices): bare 697 calls/s (1368 us CPU/call), auth 779 (1283), no-audit 661 (1857),
 * jwt-verified 341 (2967), jwt-fresh 284 (3609), dpop-verified 250 (4082); at load 9-12:
 * bare 644, auth 693, no-audit 556, jwt-verified 269, jwt-fresh 279, dpop-verified 197.
 *
 *   - Authentication is close to free once a token has been seen: the gate in front of the bare
 *     handler stays within noise of it (x0.97-1.26 over four runs; why it
 *     measures slightly faster than bare in most runs is not explained). A token seen for the first time costs an
 *     ES256 verification (WebCrypto, on libuv's thread pool), jose's claim checks and the zod
 *     parse of the claims: a few hundred us of CPU (jwt-fresh vs jwt-verified).
 *   - The endpoint around the SDK (body limits, depth scan, era routing, an McpServer with six
 *     tools and a resource per request, the zod input check, runTool) costs about what the bare
 *     handler costs: no-audit is within noise of bare.
 *   - The audit record is the rest. Each call appends to the hash chain and answers only once its
 *     record is written. Appends are group-committed (lib/audit/group-commit.ts): the calls that
 *     reach the audit while a write is under way, or in the same turn of the event loop, are
 *     written together, and on PGlite a write is one multi-row INSERT that checks the head in SQL
 *     (no BEGIN/COMMIT, no advisory lock: one connection, one process per store). Before, each
 *     call ran its own transaction of five statements (BEGIN, advisory lock, SELECT of the head,
 *     INSERT, COMMIT), all on this thread in PGlite's WebAssembly Postgres: PGlite was a third of
 *     the CPU profile of jwt-verified. A group commit that starts its write at once does not help
 *     here: PGlite executes synchronously, so each write finished before another request reached
 *     the audit and every group held one record (measured: 2200 groups for 2200 calls); waiting
 *     for the check phase (setImmediate) first gives groups of about 6-8 at concurrency 8.
 *   - With a DPoP proof, every call also verifies the proof's signature and records its jti in
 *     the store (one more INSERT, not grouped).
 *
 * Before and after the group commit, in alternating runs at load 14-20 from other builds (four
 * variants, BENCH_ONLY=bare,auth,no-audit,jwt-verified): auth + audit x0.45 / x0.60 of bare
 * before (per CPU-second x0.35 / x0.44), x0.65 / x0.61 after (per CPU-second x0.63 / x0.75); the
 * audit's CPU per call went from +1700-3300 us to +650-1150 us over no-audit. One more pair at
 * load 4-21: x0.33 before (per CPU-second x0.37), x0.68 after (x0.70). Full runs after: x0.69 at
 * load 20 (per CPU-second x0.78), x0.65 at load 4-5 (bare 1302 calls/s, auth + audit 852; per
 * CPU-second x0.79). What is left of the audit (node --cpu-prof, steady
 * state): PGlite's INSERT (about 15% of samples, down from about 30%), the SHA-256 and canonical
 * JSON of each record, and GC. The rest of the gap to bare is this endpoint's own work around the
 * SDK (no-audit).
 *
 *   npx tsx bench/mcp.ts            (BENCH_CALLS=2000 BENCH_CONCURRENCY=8 to change the load)
 */
import { spawnSync } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";

// lib/ and mcp/ modules start with `import "server-only"`, which only resolves to an empty module
// under the react-server condition (as in Next.js). Re-run ourselves with it.
if (!process.execArgv.some((a) => a.includes("react-server"))) {
  const child = spawnSync(process.execPath, [...process.execArgv, "--conditions=react-server", ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const WARMUP = 200;
/** Each variant's calls run in this many slices, the variants taking turns; the median slice counts. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);

async function main() {
  const { parseConfig } = await import("../lib/config");
  const { createMcpEndpoint } = await import("../mcp/endpoint");
  const { verifyAccessToken, verifyOptionsFor } = await import("../lib/protected-resource/verify-access-token");
  const { startTestIssuer } = await import("../tests/helpers/jwks-server");
  const { startMcpDeps } = await import("../tests/helpers/mcp-in-process");
  const { generateDPoPKey } = await import("../lib/auth/dpop");
  const { accessTokenHash } = await import("../mcp/dpop");
  const { SignJWT } = await import("jose");
  const { McpServer, WebStandardStreamableHTTPServerTransport } = await import("@modelcontextprotocol/server");
  const { z } = await import("zod");
  const { formatMoney } = await import("../lib/money");
  const { randomUUID } = await import("node:crypto");

  const issuer = await startTestIssuer();
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer.setAudience(`${base}/mcp`);

  const config = parseConfig({ NODE_ENV: "test", PUBLIC_URL: base, DATA_DIR: "memory://", AUTH_ISSUER: issuer.issuer, AUTH_JWKS_URI: issuer.jwksUri });
  const rt = await startMcpDeps(config);
  const token = await issuer.mint({ sub: "aurelius", scope: "openid stock:read" }, { expiresIn: 3600 });
  const principal = await verifyAccessToken(token, verifyOptionsFor(config));
  const dpopKey = await generateDPoPKey();
  const boundToken = await issuer.mint({ sub: "aurelius", scope: "openid stock:read", cnf: { jkt: dpopKey.thumbprint } }, { expiresIn: 3600 });
  // Distinct tokens, one per call, minted before the clock starts: every call misses the cache of
  // accepted tokens and pays the whole verification.
  const freshTokens: string[] = [];
  const mintFresh = async (n: number) => {
    freshTokens.length = 0;
    for (let i = 0; i < n; i++) freshTokens.push(await issuer.mint({ sub: "aurelius", scope: "openid stock:read", jti: randomUUID() }, { expiresIn: 3600 }));
  };
  const proofs: string[] = [];
  const signProofs = async (n: number) => {
    proofs.length = 0;
    const iat = Math.floor(Date.now() / 1000);
    const ath = accessTokenHash(boundToken);
    for (let i = 0; i < n; i++) {
      proofs.push(
        await new SignJWT({ jti: randomUUID(), htm: "POST", htu: `${base}/mcp`, iat, ath })
          .setProtectedHeader({ alg: dpopKey.alg, typ: "dpop+jwt", jwk: dpopKey.publicJwk })
          .sign(dpopKey.privateKey),
      );
    }
  };
  const jwtEndpoint = createMcpEndpoint(rt);
  const noVerification = createMcpEndpoint(rt, { verify: async () => principal });
  // The real endpoint over a store that drops every write: get_market_price touches the store only
  // to append its audit record, so this is the endpoint without the audit.
  const droppingStore = { query: async () => [], transaction: async (fn: (tx: unknown) => unknown) => fn({ query: async () => [] }) };
  const noAudit = createMcpEndpoint({ ...rt, db: droppingStore as unknown as typeof rt.db });
  // The bare SDK handler: the same tool reading the same market, nothing of this app around it.
  const priceInput = z.object({ symbol: z.enum([config.market.symbol]) });
  // One McpServer and one stateless JSON transport per request, as the SDK's examples serve it.
  const bare = {
    async fetch(request: Request, options?: { authInfo?: unknown }): Promise<Response> {
      const server = new McpServer({ name: "bare", version: "1.0.0" });
      server.registerTool("get_market_price", { description: "price", inputSchema: priceInput }, async () => {
        const q = rt.market.snapshot();
        const data = { symbol: q.symbol, price: formatMoney(q.priceCents), currency: "USD", status: q.status, at: q.at };
        return { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: data };
      });
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await server.connect(transport);
      try {
        return await transport.handleRequest(request, options as never);
      } finally {
        void transport.close().catch(() => undefined);
        void server.close().catch(() => undefined);
      }
    },
    close: async () => undefined,
  };
  type Served = { gate(request: Request): Promise<unknown>; handle(request: Request, auth: never): Promise<Response> };
  const endpoints: Record<string, Served> = {
    bare: { gate: async () => ({}), handle: (request) => bare.fetch(request) },
    auth: { gate: (request) => jwtEndpoint.gate(request), handle: (request, auth) => bare.fetch(request, { authInfo: auth }) },
    "jwt-verified": jwtEndpoint,
    "dpop-verified": jwtEndpoint,
    "jwt-fresh": jwtEndpoint,
    "no-verification": noVerification,
    "no-audit": noAudit,
  };

  // A tiny node:http adapter: the same Web Request the Next route hands to the endpoint.
  server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const endpoint = endpoints[String(req.headers["x-bench-endpoint"])] ?? jwtEndpoint;
      const request = new Request(`${base}${req.url}`, {
        method: req.method,
        headers: Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : [])),
        body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
      });
      const auth = await endpoint.gate(request);
      const response = auth instanceof Response ? auth : await endpoint.handle(request, auth as never);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    });
  });

  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: "NVDA" } } });
  const callOnce = async (which: string): Promise<number> => {
    const started = performance.now();
    const dpop = which === "dpop-verified" ? proofs.pop() : undefined;
    const bearer = which === "jwt-fresh" ? freshTokens.pop()! : token;
    const res = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: dpop ? `DPoP ${boundToken}` : `Bearer ${bearer}`,
        ...(dpop ? { dpop } : {}),
        "x-bench-endpoint": which,
      },
      body,
    });
    const json = (await res.json()) as { result?: { isError?: boolean } };
    if (res.status !== 200 || !json.result || json.result.isError) throw new Error(`unexpected answer ${res.status}`);
    return performance.now() - started;
  };

  const run = async (which: string, calls: number) => {
    if (which === "dpop-verified") await signProofs(calls + CONCURRENCY);
    if (which === "jwt-fresh") await mintFresh(calls + CONCURRENCY);
    const latencies: number[] = [];
    let next = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < calls) {
          next++;
          latencies.push(await callOnce(which));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    return { rps: calls / seconds, p50: at(0.5), p99: at(0.99), cpuUs: (cpu.user + cpu.system) / calls };
  };

  const only = process.env.BENCH_ONLY;
  const variants = only ? only.split(",") : ["bare", "auth", "no-audit", "jwt-verified", "jwt-fresh", "dpop-verified", "no-verification"];
  for (const which of variants) await run(which, WARMUP);
  // Alternate slices so drift (GC, store growth) hits every variant alike.
  const totals: Record<string, { rps: number; p50: number; p99: number; cpuUs: number }[]> = Object.fromEntries(variants.map((v) => [v, []]));
  // The order turns each round, so that no variant always follows the same one (and pays for
  // the garbage the one before it left).
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const which of order) totals[which]!.push(await run(which, Math.round(CALLS / ROUNDS)));
  }
  // The median slice: on a machine shared with other work, a burst elsewhere spoils a slice or two.
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const typical = (xs: { rps: number; p50: number; p99: number; cpuUs: number }[]) => ({
    rps: median(xs.map((x) => x.rps)),
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
    cpuUs: median(xs.map((x) => x.cpuUs)),
  });
  const row = (name: string, r: { rps: number; p50: number; p99: number; cpuUs: number }) =>
    `${name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} calls/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms   CPU ${r.cpuUs.toFixed(0).padStart(5)} µs/call`;
  console.log(`\nget_market_price over loopback HTTP, ${CALLS} calls per variant, concurrency ${CONCURRENCY} (Node ${process.version})`);
  for (const which of variants) console.log(row(which, typical(totals[which]!)));
  if (only) return finish();
  const on = typical(totals["jwt-verified"]!);
  const off = typical(totals["no-verification"]!);
  const bound = typical(totals["dpop-verified"]!);
  const bareFigure = typical(totals.bare!);
  const fresh = typical(totals["jwt-fresh"]!);
  const ratios = (of: (r: typeof bareFigure) => number) =>
    `with auth x${(of(typical(totals.auth!)) / of(bareFigure)).toFixed(2)}, with auth + audit x${(of(on) / of(bareFigure)).toFixed(2)} ` +
    `(a new token per call x${(of(fresh) / of(bareFigure)).toFixed(2)}), audit without auth x${(of(off) / of(bareFigure)).toFixed(2)}, DPoP + audit x${(of(bound) / of(bareFigure)).toFixed(2)}`;
  console.log(`ratio to the bare SDK handler, calls/s:            ${ratios((r) => r.rps)}`);
  // CPU time per call (this process: the load generator's share is the same for every variant)
  // moves far less than wall-clock throughput when other work shares the machine.
  console.log(`ratio to the bare SDK handler, calls per CPU-second: ${ratios((r) => 1 / r.cpuUs)}`);
  console.log(
    `cost of auth: throughput x${(off.rps / on.rps).toFixed(2)} lower, p50 +${(on.p50 - off.p50).toFixed(2)} ms, p99 +${(on.p99 - off.p99).toFixed(2)} ms ` +
      `(JWKS fetched ${issuer.jwksFetches()} time(s))`,
  );
  console.log(`cost of the DPoP proof on top: throughput x${(on.rps / bound.rps).toFixed(2)} lower, p50 +${(bound.p50 - on.p50).toFixed(2)} ms, p99 +${(bound.p99 - on.p99).toFixed(2)} ms`);

  return finish();

  async function finish() {
    server.close();
    await jwtEndpoint.close();
    await noVerification.close();
    await noAudit.close();
    await bare.close();
    await rt.stop();
    await issuer.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
