import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import type http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { waitForBuild } from "../../scripts/test-build.mjs";
import { startTestIssuer, type TestIssuer } from "./jwks-server";
import { rememberInvestorPassword, TEST_INVESTOR_PASSWORD } from "./investor-session";
import { startedApps } from "./started-apps";
import { seedDataDir } from "./store-snapshot";

export { waitForBuild };

/**
 * Starts the built app (`next start`, from .next-test or TEST_DIST_DIR; waits for the build) on a
 * free loopback port with its own data directory, over real HTTP. The data directory starts with
 * a migrated store (`seedDataDir`) unless `freshStore` asks for the app to create its own.
 * `restart()` stops and starts the same app on the same data (to test what survives a restart);
 * `kill()` ends it with SIGKILL, as kill -9 would, and `start()` brings it up again on the same
 * port and data.
 */
export interface AppServer {
  url: string;
  port: number;
  dataDir: string;
  /** The server's process id (for memory readings). */
  pid(): number;
  /** Everything the server printed so far (stdout + stderr). */
  output(): string;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL at once: no shutdown hook runs, nothing is flushed. Resolves when the process is gone. */
  kill(): Promise<void>;
  /** Sends `signal` and waits for the process to end by itself (no SIGKILL after it): its exit code. */
  terminate(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts the app again (same port, same data) after kill() or stop(). */
  start(): Promise<void>;
}

const ROOT = path.resolve(__dirname, "..", "..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `server` listening on a free loopback port: its URL, and a close() that drops the connections still open. */
export async function listenOnLoopback(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Runs `start` on a free loopback port, and again on another one if the port was taken in the
 * meantime (EADDRINUSE): freePort() only says the port was free when it looked, and test files
 * running in parallel pick ports too.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "EADDRINUSE" || attempt >= tries) throw error;
    }
  }
}

export interface StartOptions {
  /** Let the app create its store from nothing (initdb and every migration), as a first start does. */
  freshStore?: boolean;
  /**
   * Leave the interface to HOST and the options, as `npm start` does (scripts/serve.mjs: 127.0.0.1
   * by default), instead of naming 127.0.0.1. The app always runs in scripts/serve.mjs.
   */
  throughServeScript?: boolean;
  /** More command-line options, after the port. */
  extraArgs?: string[];
  /** More environment that names the app's own URL (e.g. AGENT_INTERNAL_URL behind a shared PUBLIC_URL). */
  envForOwnUrl?: (url: string) => Record<string, string>;
}

export async function startApp(env: Record<string, string> = {}, options: StartOptions = {}): Promise<AppServer> {
  await waitForBuild();
  const port = await freePort();
  const password = env.INVESTOR_PASSWORD ?? TEST_INVESTOR_PASSWORD;
  const dataDir = env.DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "sg-test-"));
  if (!options.freshStore && !env.DATABASE_URL && !dataDir.startsWith("memory://")) await seedDataDir(dataDir);
  const url = `http://localhost:${port}`;
  rememberInvestorPassword(url, password, env.PUBLIC_URL ?? url);
  let child: ChildProcess | undefined;
  let log = "";

  const launch = async () => {
    child = spawn(
      process.execPath,
      [
        path.join(ROOT, "scripts", "serve.mjs"),
        "start",
        "-p",
        String(port),
        ...(options.throughServeScript ? [] : ["-H", "127.0.0.1"]),
        ...(options.extraArgs ?? []),
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_ENV: "production",
          NEXT_DIST_DIR: process.env.TEST_DIST_DIR || ".next-test",
          NEXT_TELEMETRY_DISABLED: "1",
          ALLOW_DEV_DEFAULTS_IN_PRODUCTION: "true",
          PORT: String(port),
          PUBLIC_URL: url,
          DATA_DIR: dataDir,
          INVESTOR_PASSWORD: password,
          ...env,
          ...options.envForOwnUrl?.(url),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout!.on("data", (d) => (log += d));
    child.stderr!.on("data", (d) => (log += d));
    await waitForReady(url, () => log, child);
  };

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => running.kill("SIGKILL"), 5000);
      running.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      running.kill("SIGTERM");
    });
  };

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve());
      running.kill("SIGKILL");
    });
  };

  const terminate = async (signal: NodeJS.Signals = "SIGTERM") => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return running?.exitCode ?? null;
    return new Promise<number | null>((resolve) => {
      running.once("exit", (code) => resolve(code));
      running.kill(signal);
    });
  };

  await launch();
  startedApps.set(url, () => log);
  return {
    url,
    port,
    dataDir,
    pid: () => child?.pid ?? -1,
    output: () => log,
    restart: async () => {
      await stop();
      await launch();
    },
    stop,
    kill,
    terminate,
    start: async () => {
      if (child) throw new Error("the app is still running");
      await launch();
    },
  };
}

/** The Accept header of an MCP client's POST to /mcp: a JSON answer or an SSE stream. */
export const MCP_ACCEPT = "application/json, text/event-stream";

export interface AppWithTestIssuer {
  app: AppServer;
  issuer: TestIssuer;
  /** The app's MCP endpoint, the audience of the issuer's tokens. */
  mcpUrl: string;
  /** The endpoint's protected resource metadata (RFC 9728). */
  metadataUrl: string;
  /** Stops the app, then closes the issuer. */
  stop(): Promise<void>;
}

/** The built app trusting only a per-run test issuer, its in-process agent off; the issuer mints tokens for the app's /mcp. */
export async function startAppWithTestIssuer(env: Record<string, string> = {}): Promise<AppWithTestIssuer> {
  const issuer = await startTestIssuer();
  try {
    // The in-process agent would call /mcp with tokens of the embedded issuer, which this app does not trust here.
    const app = await startApp({ ...env, AUTH_ISSUER: issuer.issuer, AUTH_JWKS_URI: issuer.jwksUri, AGENT_ENABLED: "false" });
    const mcpUrl = `${app.url}/mcp`;
    issuer.setAudience(mcpUrl);
    const stop = async () => {
      await app.stop();
      await issuer.close();
    };
    return { app, issuer, mcpUrl, metadataUrl: `${app.url}/.well-known/oauth-protected-resource/mcp`, stop };
  } catch (error) {
    await issuer.close();
    throw error;
  }
}

async function waitForReady(url: string, output: () => string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`app exited early (${child.exitCode}):\n${output()}`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`app did not become ready at ${url}:\n${output()}`);
}
