#!/usr/bin/env node
// `npm run dev` and `npm start`: the Next.js app in this process, behind a plain Node HTTP server
// that this file owns, listening on this machine only (127.0.0.1) unless HOST (or -H /
// --hostname) names another interface on purpose, in which case it says so at start.
//
// Owning the server (Next's custom-server API: next(), getRequestHandler, getUpgradeHandler)
// closes what `next start` leaves open:
// - an Upgrade request (a WebSocket from any web page) is answered 400 and its socket closed;
//   `next start` kept such sockets open forever, one file descriptor each. In development the
//   one upgrade the app has, Next's hot reload (/_next/hmr), still goes to Next.
// - TRACE gets 405 and `OPTIONS *` a plain 204 with Allow, where Next answered 500 and logged a
//   stack (Node's parser already answers 400 to methods it does not know, such as TRACK).
// - a request must deliver its headers within 20 s and its body within 60 s (Node's defaults
//   are 60 s and 300 s): a slow sender cannot hold a connection for five minutes.
// The app's Host check (lib/net/allowed-hosts.ts) stops web pages (DNS rebinding), not clients
// on the network, which can send any Host.
import { EventEmitter } from "node:events";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const USAGE = "usage: node scripts/serve.mjs dev|start [-p|--port PORT] [-H|--hostname HOST]";
const [mode, ...given] = process.argv.slice(2);
if (mode !== "dev" && mode !== "start") {
  console.error(USAGE);
  process.exit(2);
}

// One place decides the interface: a -H / --hostname among the options wins over HOST, as it
// would for next itself.
let host = process.env.HOST?.trim() || "127.0.0.1";
let port = Number(process.env.PORT) || 3000;
for (let i = 0; i < given.length; i++) {
  const arg = given[i];
  const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
  const value = () => inline ?? given[++i];
  if (flag === "-H" || flag === "--hostname") host = value() ?? host;
  else if (flag === "-p" || flag === "--port") port = Number(value());
  else {
    console.error(`[serve] unknown option ${arg}\n${USAGE}`);
    process.exit(2);
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`[serve] the port must be a number from 0 to 65535\n${USAGE}`);
  process.exit(2);
}
if (!["127.0.0.1", "localhost", "::1"].includes(host)) {
  console.warn(
    `[serve] listening on ${host}, beyond this machine: anyone who can reach it can watch the public ` +
      "market, use its simulator and try Alice's password on the login and approval pages (rate-limited); " +
      "over plain HTTP her password and session cookie cross the network in the clear. " +
      "Unset HOST to keep the app on 127.0.0.1.",
  );
}

const dev = mode === "dev";
// Next reads NODE_ENV when it loads; `next dev` and `next start` set it the same way.
process.env.NODE_ENV = dev ? "development" : "production";
process.env.PORT = String(port);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (!dev) {
  const built = builtConfig();
  if (built) process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(built);
}
const { default: next } = await import("next");
// Next attaches its own 'upgrade' listener to the server of the first request it handles unless
// it is given one: hand it an emitter that never emits, so that only the listener below decides.
const app = next({ dev, dir: root, hostname: host, port, httpServer: new EventEmitter() });
// The app's runtime (lib/runtime.ts) is kept under this key; with SHUTDOWN set it leaves the
// signals to this server, which stops it after the requests under way (below).
const RUNTIME = Symbol.for("sleeping-guardian.runtime");
globalThis[Symbol.for("sleeping-guardian.shutdown")] = true;

/**
 * The configuration the production build recorded (`required-server-files.json`), handed to Next
 * the way its own standalone server (`.next/standalone/server.js`) does, through
 * `__NEXT_PRIVATE_STANDALONE_CONFIG`: otherwise every start compiles next.config.ts again with
 * SWC, whose native module and allocations then stay resident (tens of MiB). Without a build
 * there is nothing recorded; Next then loads next.config.ts and says that a build is missing.
 */
function builtConfig() {
  const distDir = process.env.NEXT_DIST_DIR || ".next";
  try {
    return JSON.parse(fs.readFileSync(path.join(root, distDir, "required-server-files.json"), "utf8")).config;
  } catch {
    return undefined;
  }
}

/** Methods the app's routes answer; what `OPTIONS *` and a refused TRACE name. */
const ALLOW = "GET, HEAD, POST, OPTIONS";
const HOT_RELOAD = "/_next/hmr";

await app.prepare();
const handle = app.getRequestHandler();

const server = http.createServer({ headersTimeout: 20_000, requestTimeout: 60_000, connectionsCheckingInterval: 2_000 }, (req, res) => {
  if (req.method === "TRACE") {
    res.writeHead(405, { allow: ALLOW, "content-type": "text/plain; charset=utf-8" }).end("Method Not Allowed\n");
    return;
  }
  if (req.url === "*") {
    // RFC 9110 §9.3.7: OPTIONS * asks about the server as a whole; any other method with it is malformed.
    if (req.method === "OPTIONS") res.writeHead(204, { allow: ALLOW }).end();
    else res.writeHead(400, { "content-type": "text/plain; charset=utf-8" }).end("Bad Request\n");
    return;
  }
  if (stopping) res.shouldKeepAlive = false;
  inFlight.add(res);
  res.on("close", () => inFlight.delete(res));
  void handle(req, res);
});
server.on("upgrade", (req, socket, head) => {
  if (dev && req.url?.startsWith(HOT_RELOAD)) {
    // Next's router: its cross-site check for development requests, then the hot reloader.
    void app.upgradeHandler(req, socket, head);
    return;
  }
  // Closed on our side once the answer is out, whether or not the client ever closes its side.
  socket.on("error", () => socket.destroy());
  socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", () => socket.destroy());
});
server.on("error", (error) => {
  console.error(`[serve] cannot listen on ${host}:${port}: ${error.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const shown = host.includes(":") ? `[${host}]` : host;
  console.log(`[serve] Sleeping Guardian (${dev ? "development" : "production"}) on http://${shown}:${server.address().port}`);
});

// Shutdown on SIGTERM / SIGINT, owned here: the market ticker and the agents stop and their
// leases go back to the other instances; then no new connections, the requests under way finish
// (up to GRACE_MS; event streams are not waited for, they never end by themselves); then the rest
// of the app's runtime stops (identity server, store) and the process ends, with 1 if stopping
// failed or did not end within STOP_DEADLINE_MS (a store that no longer answers).
// A repeat within REPEAT_MS is the same stop (Ctrl-C under `npm run` with bash as its shell
// reaches this process twice: from the terminal and from npm); a later signal ends it at once.
const GRACE_MS = 10_000;
const STOP_DEADLINE_MS = GRACE_MS + 10_000;
const REPEAT_MS = 1_000;
const inFlight = new Set();
const streaming = (res) => res.headersSent && String(res.getHeader("content-type") ?? "").startsWith("text/event-stream");
let stopping = false;
let stopAskedAt = 0;

async function shutdown(signal) {
  stopping = true;
  console.log(`[serve] ${signal}: finishing the requests under way, then stopping`);
  setTimeout(() => {
    console.error(`[serve] still stopping after ${STOP_DEADLINE_MS / 1000} s: exiting`);
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
  const runtime = globalThis[RUNTIME];
  // The jobs first, while the server still answers them: the ticker and the agents stop here
  // (an agent's calls go to /mcp over HTTP) and their leases go to the other instances at once.
  await runtime?.then((rt) => rt.leases.stop()).catch(() => undefined);
  server.close();
  server.closeIdleConnections();
  const deadline = Date.now() + GRACE_MS;
  while ([...inFlight].some((res) => !streaming(res)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  let code = 0;
  if (runtime) {
    await runtime.then((rt) => rt.stop()).catch((error) => {
      console.error("[serve] the app did not stop cleanly:", error instanceof Error ? error.message : error);
      code = 1;
    });
  }
  server.closeAllConnections();
  await app.close().catch(() => undefined);
  process.exit(code);
}
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    if (!stopping) {
      stopAskedAt = Date.now();
      void shutdown(signal);
    } else if (Date.now() - stopAskedAt > REPEAT_MS) {
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
  });
}
