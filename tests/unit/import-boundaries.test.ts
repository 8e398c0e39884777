import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The import boundaries of DESIGN.md, as a scan of the sources, so that a convenient shortcut
 * fails the build:
 * - the agent reaches the broker only over HTTP at /mcp, like any other MCP client, so it cannot
 *   trade around the gate;
 * - the resource server trusts tokens through the issuer's JWKS alone, the same way for every
 *   identity server;
 * - the client side of authorization speaks HTTP to every identity server alike;
 * - the embedded identity server stands in for an external one and knows nothing of the app but
 *   the store it persists in;
 * - imports point one way: `lib/` never imports `app/` or `mcp/`.
 */
const ROOT = path.resolve(__dirname, "..", "..");

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    return e.isDirectory() ? sources(rel) : /\.(ts|tsx)$/.test(e.name) ? [rel] : [];
  });
}

/** Every module a file imports, resolved to a path relative to the repository root. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  return [...text.matchAll(/(?:import|export)[^"']*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => {
    const spec = m[1] ?? m[2]!;
    if (spec.startsWith("@/")) return spec.slice(2);
    if (spec.startsWith(".")) return path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec));
    return spec;
  });
}

/** Every import from a file under `dir` into one of the `forbidden` folders, as "file → module". */
function crossings(dir: string, forbidden: string[]): string[] {
  const files = sources(dir);
  expect(files.length).toBeGreaterThan(1);
  return files.flatMap((f) => importsOf(f).filter((i) => forbidden.some((x) => i === x || i.startsWith(`${x}/`))).map((i) => `${f} → ${i}`));
}

describe("import boundaries", () => {
  it.each([
    // The agent: never the broker or the ledger (nor the identity server, the market or the UI).
    ["lib/agent", ["mcp", "lib/ledger", "lib/idp", "lib/market", "app"]],
    // The resource server: never the agent or the identity server.
    ["mcp", ["lib/agent", "lib/idp", "app"]],
    // The client side of authorization: never the identity server (nor the broker, ledger, agent, UI).
    ["lib/auth", ["lib/idp", "mcp", "lib/ledger", "lib/agent", "app"]],
    // The embedded identity server: never the agent, the broker or the ledger.
    ["lib/idp", ["lib/agent", "mcp", "lib/ledger", "app"]],
    // The order's one home, shared by the agent, the identity server and the resource server.
    ["lib/orders", ["lib/agent", "lib/idp", "mcp", "lib/ledger", "app"]],
    ["lib/standing-mandate", ["lib/agent", "lib/idp", "mcp", "lib/ledger", "app"]],
    // The sequence view reads the records of every party from the store, never their code.
    ["lib/sequence", ["lib/agent", "lib/idp", "mcp", "lib/ledger", "app"]],
    // Alice's sign-in and sessions: an OpenID client like any other, never the identity server itself.
    ["lib/session", ["lib/idp", "lib/agent", "mcp", "lib/ledger", "app"]],
    // lib/ as a whole: never the UI, never the MCP server.
    ["lib", ["app", "mcp"]],
  ])("%s imports none of %j", (dir, forbidden) => {
    expect(crossings(dir, forbidden)).toEqual([]);
  });

  it("only the agent opens the sealed standing-mandate grants: no module outside lib/agent imports its vault (tests aside)", () => {
    const vault = "lib/agent/mandate-grant-vault";
    const importers = ["app", "lib", "mcp", "scripts"].flatMap((dir) => sources(dir)).filter((f) => importsOf(f).includes(vault));
    expect(importers.length).toBeGreaterThan(0);
    expect(importers.filter((f) => !f.startsWith("lib/agent/"))).toEqual([]);
  });

  it("the scan sees relative and alias imports (it can fail)", () => {
    expect(crossings("app", ["lib/agent"]).length).toBeGreaterThan(0); // "@/lib/agent…"
    expect(crossings("mcp", ["lib/ledger"]).length).toBeGreaterThan(0); // "../lib/ledger/…"
    expect(importsOf("app/api/agent/route.ts")).toContain("lib/agent");
  });
});
