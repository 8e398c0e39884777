import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The import boundaries that make the security model real (DESIGN.md): the agent reaches the
 * broker only over HTTP, and the client side of authorization speaks HTTP to every identity
 * server alike. A scan of the sources, so that a convenient shortcut fails the build.
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

describe("import boundaries", () => {
  it.each([
    ["lib/agent", ["mcp", "lib/ledger", "lib/idp", "lib/market", "app"]],
    ["lib/auth", ["lib/idp", "mcp", "lib/ledger", "lib/agent", "app"]],
    // The order's one home is shared by the agent, the identity server and the resource server.
    ["lib/orders", ["lib/agent", "lib/idp", "mcp", "lib/ledger", "app"]],
  ])("%s imports none of %j", (dir, forbidden) => {
    const files = sources(dir);
    expect(files.length).toBeGreaterThan(3);
    const violations = files.flatMap((f) => importsOf(f).filter((i) => forbidden.some((x) => i === x || i.startsWith(`${x}/`))).map((i) => `${f} → ${i}`));
    expect(violations).toEqual([]);
  });

  it("the scan sees relative and alias imports (it can fail)", () => {
    expect(importsOf("lib/agent/mcp-client.ts")).toContain("lib/money");
    expect(importsOf("app/api/agent/route.ts")).toContain("lib/agent");
  });
});
