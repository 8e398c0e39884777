import { execFileSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The benchmarks (bench/, run with tsx, outside vitest) start the app and the in-process MCP
 * server through the tests' helpers. Those helpers must load without vitest and, for the app,
 * without the react-server condition that lets lib/ modules import "server-only".
 */
const ROOT = path.resolve(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");

function load(modules: string[], conditions: string[] = []): string {
  const code = modules.map((m) => `require(${JSON.stringify(path.join(ROOT, m))});`).join("") + "console.log('loaded');";
  // Only what a shell would give a benchmark: none of vitest's variables or its worker's options.
  const env: NodeJS.ProcessEnv = { NODE_ENV: "development", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_OPTIONS: conditions.map((c) => `--conditions=${c}`).join(" ") };
  try {
    return execFileSync(process.execPath, [TSX, "-e", code], { cwd: ROOT, encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    // The first lines of what the child printed: the module that could not load, and why.
    const stderr = String((error as { stderr?: unknown }).stderr ?? error);
    const lines = stderr.split("\n").filter((l) => l.trim() && !l.includes("sourceMappingURL") && !/^\s+at /.test(l));
    throw new Error(`the helpers did not load outside vitest:\n${lines.slice(0, 8).join("\n")}`);
  }
}

describe("the helpers the benchmarks load", () => {
  it("load outside vitest: the app starter, the browser and the cluster (bench/flow.ts, bench/sse.ts, bench/scale.ts)", () => {
    expect(load(["tests/helpers/app-server.ts", "tests/helpers/agent-alice.ts", "tests/helpers/browser.ts", "tests/helpers/cluster.ts", "scripts/test-build.mjs"])).toContain("loaded");
  });

  it("load outside vitest under react-server: the in-process MCP server (bench/mcp.ts)", () => {
    expect(load(["tests/helpers/mcp-in-process.ts", "tests/helpers/jwks-server.ts"], ["react-server"])).toContain("loaded");
  });
});
