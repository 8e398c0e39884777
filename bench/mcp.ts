/**
 * The cost of authentication at /mcp: tool calls per second and p50/p99 latency of
 * `get_market_price` through the real endpoint (gate → JSON-RPC → McpServer → tool → audit),
 * once with JWT verification against a JWKS (ES256, keys cached after the first fetch), once with
 * a DPoP-bound token and a fresh proof per call (RFC 9449: proof signature, htm/htu/iat/ath/jkt,
 * and the proof's jti recorded once in the store; the proofs are signed before the clock starts,
 * so the figure is the server's cost), and once with verification switched off (a stub verifier
 * returning the same principal), in one run on loopback. Everything else is identical: same
 * endpoint code, same in-memory store, same audit write per call.
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

async function main() {
  const { parseConfig } = await import("../lib/config");
  const { createMcpEndpoint } = await import("../mcp/endpoint");
  const { verifyAccessToken, verifyOptionsFor } = await import("../lib/protected-resource/verify-access-token");
  const { startTestIssuer } = await import("../tests/helpers/jwks-server");
  const { startMcpDeps } = await import("../tests/helpers/mcp-in-process");
  const { generateDPoPKey } = await import("../lib/auth/dpop");
  const { accessTokenHash } = await import("../mcp/dpop");
  const { SignJWT } = await import("jose");
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
  const endpoints = {
    "jwt-verified": createMcpEndpoint(rt),
    "no-verification": createMcpEndpoint(rt, { verify: async () => principal }),
  };

  // A tiny node:http adapter: the same Web Request the Next route hands to the endpoint.
  server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const which = req.headers["x-bench-endpoint"] === "no-verification" ? "no-verification" : "jwt-verified";
      const endpoint = endpoints[which];
      const request = new Request(`${base}${req.url}`, {
        method: req.method,
        headers: Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : [])),
        body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
      });
      const auth = await endpoint.gate(request);
      const response = auth instanceof Response ? auth : await endpoint.handle(request, auth);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    });
  });

  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: "NVDA" } } });
  const callOnce = async (which: string): Promise<number> => {
    const started = performance.now();
    const dpop = which === "dpop-verified" ? proofs.pop() : undefined;
    const res = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: dpop ? `DPoP ${boundToken}` : `Bearer ${token}`,
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
    const latencies: number[] = [];
    let next = 0;
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
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    return { rps: calls / seconds, p50: at(0.5), p99: at(0.99) };
  };

  const variants = ["jwt-verified", "dpop-verified", "no-verification"];
  for (const which of variants) await run(which, WARMUP);
  // Alternate halves so drift (GC, store growth) hits every variant alike.
  const totals: Record<string, { rps: number; p50: number; p99: number }[]> = Object.fromEntries(variants.map((v) => [v, []]));
  for (let round = 0; round < 2; round++) {
    for (const which of variants) totals[which]!.push(await run(which, CALLS / 2));
  }
  const avg = (xs: { rps: number; p50: number; p99: number }[]) => ({
    rps: xs.reduce((s, x) => s + x.rps, 0) / xs.length,
    p50: xs.reduce((s, x) => s + x.p50, 0) / xs.length,
    p99: xs.reduce((s, x) => s + x.p99, 0) / xs.length,
  });
  const on = avg(totals["jwt-verified"]!);
  const off = avg(totals["no-verification"]!);
  const bound = avg(totals["dpop-verified"]!);
  const row = (name: string, r: typeof on) =>
    `${name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} calls/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms`;
  console.log(`\nget_market_price over loopback HTTP, ${CALLS} calls per variant, concurrency ${CONCURRENCY} (Node ${process.version})`);
  console.log(row("jwt-verified", on));
  console.log(row("dpop-verified", bound));
  console.log(row("no-verification", off));
  console.log(
    `cost of auth: throughput x${(off.rps / on.rps).toFixed(2)} lower, p50 +${(on.p50 - off.p50).toFixed(2)} ms, p99 +${(on.p99 - off.p99).toFixed(2)} ms ` +
      `(JWKS fetched ${issuer.jwksFetches()} time(s))`,
  );
  console.log(`cost of the DPoP proof on top: throughput x${(on.rps / bound.rps).toFixed(2)} lower, p50 +${(bound.p50 - on.p50).toFixed(2)} ms, p99 +${(bound.p99 - on.p99).toFixed(2)} ms`);

  server.close();
  for (const e of Object.values(endpoints)) await e.close();
  await rt.stop();
  await issuer.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
