/**
 * Starts `next start` (the build in TEST_DIST_DIR, default .next-test) or `next dev` on a free
 * loopback port for the benchmarks, with its own environment, and stops it. Self-contained, so
 * that tsx runs it without the test helpers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { rememberInvestorPassword, TEST_INVESTOR_PASSWORD } from "../tests/helpers/investor-session";
import { freePort } from "../tests/helpers/app-server";

const ROOT = path.resolve(__dirname, "..");

export interface NextServer {
  url: string;
  pid: number;
  /** Milliseconds from spawn to the first answer of /api/health. */
  readyAfterMs: number;
  output(): string;
  stop(): Promise<void>;
}

export async function startNext(mode: "start" | "dev", env: Record<string, string>): Promise<NextServer> {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const password = env.INVESTOR_PASSWORD ?? TEST_INVESTOR_PASSWORD;
  rememberInvestorPassword(url, password);
  let log = "";
  const started = Date.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(ROOT, "scripts", "serve.mjs"), mode, "-p", String(port), "-H", "127.0.0.1"],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: mode === "dev" ? "development" : "production",
        NEXT_DIST_DIR: mode === "dev" ? ".next-bench-dev" : process.env.TEST_DIST_DIR || ".next-test",
        NEXT_TELEMETRY_DISABLED: "1",
        ALLOW_DEV_DEFAULTS_IN_PRODUCTION: "true",
        PORT: String(port),
        PUBLIC_URL: url,
        INVESTOR_PASSWORD: password,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next ${mode} exited early (${child.exitCode}):\n${log}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`next ${mode} did not become ready:\n${log}`);
    }
    const res = await fetch(`${url}/api/health`).catch(() => undefined);
    if (res?.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid!, readyAfterMs: Date.now() - started, output: () => log, stop };
}
