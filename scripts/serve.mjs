#!/usr/bin/env node
// `npm run dev` and `npm start`: `next dev` / `next start` listening on this machine only
// (127.0.0.1), unless HOST (or a -H / --hostname passed through) names another interface on
// purpose, in which case it says so at start. The app's Host check (lib/net/allowed-hosts.ts)
// stops web pages (DNS rebinding), not clients on the network, which can send any Host.
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [mode, ...given] = process.argv.slice(2);
if (mode !== "dev" && mode !== "start") {
  console.error("usage: node scripts/serve.mjs dev|start [next options]");
  process.exit(2);
}
// One place decides the interface: a -H / --hostname among the options wins over HOST, as it
// would for next itself, and is taken out so that it is passed once.
let host = process.env.HOST?.trim() || "127.0.0.1";
const rest = [];
for (let i = 0; i < given.length; i++) {
  const arg = given[i];
  if (arg === "-H" || arg === "--hostname") host = given[++i] ?? host;
  else if (arg.startsWith("--hostname=")) host = arg.slice("--hostname=".length);
  else rest.push(arg);
}
if (!["127.0.0.1", "localhost", "::1"].includes(host)) {
  console.warn(
    `[serve] listening on ${host}, beyond this machine: anyone who can reach it can watch the public ` +
      "market, use its simulator and try Alice's password on the login and approval pages (rate-limited); " +
      "over plain HTTP her password and session cookie cross the network in the clear. " +
      "Unset HOST to keep the app on 127.0.0.1.",
  );
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const next = path.join(root, "node_modules", "next", "dist", "bin", "next");
const child = spawn(process.execPath, [next, mode, "-H", host, ...rest], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  if (code !== null) process.exit(code);
  // Ended by a signal: end the same way, so that the caller sees which.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  setTimeout(() => process.exit(128 + (os.constants.signals[signal] ?? 0)), 100).unref();
});
