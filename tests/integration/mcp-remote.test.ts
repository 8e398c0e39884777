import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dashboardOf } from "../helpers/agent-app";
import { freePort, startApp, type AppServer } from "../helpers/app-server";
import { authorizeAsAlice } from "../helpers/mcp-oauth-client";

/**
 * `mcp-remote` (0.15), the stdio bridge Claude Desktop and other stdio-only hosts use for remote
 * servers, run as its own process against the built app, exactly as a host starts it:
 * `mcp-remote <url> <callback port>`. It finds the metadata, registers itself, prints the
 * authorization URL (no browser here: the one it would open is Alice's, driven over HTTP), gets
 * the code on its own loopback callback, and then serves MCP over stdio. The host's side is
 * this test writing JSON-RPC lines to its stdin.
 */
let app: AppServer;
let bridge: Bridge;
let aliceSub: string;

interface Bridge {
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  request(method: string, params?: Record<string, unknown>): Promise<Record<string, any>>;
  notify(method: string, params?: Record<string, unknown>): void;
  stop(): Promise<void>;
}

function startBridge(serverUrl: string, callbackPort: number, configDir: string): Bridge {
  const bin = path.resolve("node_modules/mcp-remote/dist/proxy.js");
  const child = spawn(process.execPath, [bin, serverUrl, String(callbackPort)], {
    // No display and a browser command that does nothing: the authorization URL is read from stderr.
    env: { ...process.env, HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: "true", DISPLAY: "" },
    stdio: "pipe",
  });
  let err = "";
  let out = "";
  let nextId = 1;
  const waiting = new Map<number, (message: Record<string, any>) => void>();
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    let newline: number;
    while ((newline = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, newline).trim();
      out = out.slice(newline + 1);
      if (!line) continue;
      const message = JSON.parse(line) as Record<string, any>;
      if (typeof message.id === "number" && waiting.has(message.id)) {
        waiting.get(message.id)!(message);
        waiting.delete(message.id);
      }
    }
  });
  return {
    child,
    stderr: () => err,
    request(method, params = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${method}; bridge said:\n${err.slice(-2000)}`)), 60_000);
        waiting.set(id, (message) => {
          clearTimeout(timer);
          resolve(message);
        });
        child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
      });
    },
    notify(method, params = {}) {
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method, params })}\n`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    },
  };
}

async function waitForText(read: () => string, pattern: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const started = Date.now();
  for (;;) {
    const found = pattern.exec(read());
    if (found) return found;
    if (Date.now() - started > timeoutMs) throw new Error(`no ${what}; bridge said:\n${read().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function authorizationUrls(text: string): string[] {
  return [...text.matchAll(/Please authorize this client by visiting:\s*\n(\S+)/g)].map((m) => m[1]!);
}

/**
 * Alice's browser arriving at the bridge's loopback callback. The bridge prints the URL before
 * its callback server listens again (a person is slower than that), so a refused connection is
 * tried again for a while.
 */
async function deliver(callback: URL): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(callback);
    } catch (error) {
      if (attempt >= 50 || !/ECONNREFUSED/.test(String((error as { cause?: unknown }).cause))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

const configDir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-test-mcp-remote-"));

beforeAll(async () => {
  app = await startApp({ AGENT_ENABLED: "false" });
  aliceSub = (await dashboardOf(app.url)).portfolio!.userSub;
});
afterAll(async () => {
  await bridge?.stop();
  await app?.stop();
  fs.rmSync(configDir, { recursive: true, force: true });
});

describe("mcp-remote, the stdio bridge, against /mcp", () => {
  it("registers, sends Alice to sign in and consent, and takes the code on its own loopback callback", async () => {
    const callbackPort = await freePort();
    bridge = startBridge(`${app.url}/mcp`, callbackPort, configDir);
    const [, url = ""] = await waitForText(bridge.stderr, /Please authorize this client by visiting:\s*\n(\S+)/, "authorization URL");
    const authorizationUrl = new URL(url);
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${app.url}/oidc/auth`);
    expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorizationUrl.searchParams.get("resource")).toBe(`${app.url}/mcp`);
    expect(authorizationUrl.searchParams.get("scope")?.split(" ")).toContain("stock:read");

    const run = await authorizeAsAlice(app.url, authorizationUrl);
    expect(run.consentHtml).toContain("MCP CLI Proxy");
    expect(`${run.callback.origin}${run.callback.pathname}`).toBe(`http://localhost:${callbackPort}/oauth/callback`);
    expect(run.callback.searchParams.get("code")).toBeTruthy();
    // Alice's browser arrives at the bridge's callback; the bridge exchanges the code itself.
    const landed = await deliver(run.callback);
    expect(landed.status).toBe(200);
    await landed.arrayBuffer();
    await waitForText(bridge.stderr, /Connected to remote server|Proxy established/i, "connection after authorization");
  });

  it("serves the host over stdio: tools, the price and Alice's portfolio", async () => {
    const init = await bridge.request("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "stdio-host", version: "1.0.0" } });
    expect(init.result?.serverInfo?.name).toBeTruthy();
    bridge.notify("notifications/initialized");
    const tools = await bridge.request("tools/list");
    expect((tools.result?.tools as Array<{ name: string }>).map((t) => t.name)).toEqual(expect.arrayContaining(["get_market_price", "get_portfolio", "buy_stock"]));
    const price = await bridge.request("tools/call", { name: "get_market_price", arguments: { symbol: "NVDA" } });
    expect(price.result?.structuredContent).toMatchObject({ symbol: "NVDA", price: expect.stringMatching(/^\d+\.\d\d$/) });
    const portfolio = await bridge.request("tools/call", { name: "get_portfolio", arguments: {} });
    expect(portfolio.result?.structuredContent?.user).toBe(aliceSub);
  });

  it("cannot trade: the broker's transaction challenge reaches the host as an error naming the order, and nothing is bought", async () => {
    const before = await dashboardOf(app.url);
    const seen = authorizationUrls(bridge.stderr()).length;
    const answered = await bridge.request("tools/call", { name: "buy_stock", arguments: { symbol: "NVDA", quantity: 1 } });
    // The 403 is insufficient_authorization, not insufficient_scope: the bridge does not send Alice
    // to authorize a wider scope; it hands the host the broker's answer, which names the order
    // that Alice would have to approve (mcp-remote 0.15 does not complete the challenge itself).
    expect(authorizationUrls(bridge.stderr())).toHaveLength(seen);
    expect(answered.error?.message).toMatch(/requires approval of order ord_\w+: buy 1 NVDA/);
    expect(answered.error?.message).toContain('"type":"oauth_authorization_details"');
    const after = await dashboardOf(app.url);
    expect(after.portfolio!.holdings).toEqual(before.portfolio!.holdings);
    expect(after.portfolio!.cashCents).toBe(before.portfolio!.cashCents);
    expect(after.trades).toEqual(before.trades);
  });
});
