#!/usr/bin/env node
// `npm run dev` and `npm start`: `next dev` / `next start` listening on this machine only
// (127.0.0.1), unless HOST names another interface on purpose (HOST=0.0.0.0 for every one), in
// which case it says so at start. Whatever it listens on, the app answers only requests for the
// host of its PUBLIC_URL (proxy.ts), so a LAN address needs PUBLIC_URL set to it as well.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [mode, ...rest] = process.argv.slice(2);
if (mode !== "dev" && mode !== "start") {
  console.error("usage: node scripts/serve.mjs dev|start [next options]");
  process.exit(2);
}
const host = process.env.HOST?.trim() || "127.0.0.1";
if (!["127.0.0.1", "localhost", "::1"].includes(host)) {
  console.warn(
    `[serve] HOST=${host}: listening beyond this machine. Anyone who can reach ${host} can use the ` +
      "market controls, and with PUBLIC_URL set to that address, Alice's dashboard and mailbox too. " +
      "Unset HOST to keep the app on 127.0.0.1.",
  );
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const next = path.join(root, "node_modules", "next", "dist", "bin", "next");
const child = spawn(process.execPath, [next, mode, "-H", host, ...rest], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
