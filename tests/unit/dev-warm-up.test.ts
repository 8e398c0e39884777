import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { WARM_PATHS, warmRoutes } from "@/lib/dev-warm-up";

/**
 * The development warm-up (lib/dev-warm-up.ts) may request routes, never act: only GETs, no
 * redirect followed, the event stream dropped at once, and nothing before the server answers.
 */
type Call = { url: string; method: string; redirect?: RequestRedirect; signal?: AbortSignal };

function fakeServer(healthyAfter = 0) {
  const calls: Call[] = [];
  let healthChecks = 0;
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = input.toString();
    calls.push({ url, method: init.method ?? "GET", redirect: init.redirect, signal: init.signal ?? undefined });
    const pathname = new URL(url).pathname;
    if (pathname === "/api/health") {
      if (healthChecks++ < healthyAfter) throw new TypeError("fetch failed");
      return Response.json({ status: "ok" });
    }
    if (pathname === "/api/events") {
      return new Response(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode(": connected\n\n")) }), {
        headers: { "content-type": "text/event-stream" },
      });
    }
    if (pathname === "/") {
      return new Response('<html><script src="/_next/static/chunks/main.js"></script><link rel="stylesheet" href="/_next/static/css/app.css"></html>', {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    }
    if (pathname === "/inbox") return new Response(null, { status: 307, headers: { location: "/oidc/auth?client_id=x" } });
    return new Response("", { status: pathname.startsWith("/api/market") ? 405 : 200 });
  };
  return { fetch, calls };
}

describe("dev route warm-up", () => {
  it("sends only GETs, follows no redirect and drops the event stream", async () => {
    const server = fakeServer();
    const logs: string[] = [];
    await warmRoutes("http://localhost:3000", { fetch: server.fetch, log: (m) => logs.push(m) });
    expect(server.calls.filter((c) => c.method !== "GET")).toEqual([]);
    const pages = server.calls.filter((c) => !c.url.includes("/_next/static/") && !c.url.endsWith("/api/health"));
    expect(pages.map((c) => new URL(c.url).pathname).sort()).toEqual([...WARM_PATHS].sort());
    expect(pages.every((c) => c.redirect === "manual")).toBe(true);
    expect(server.calls.some((c) => c.url.includes("/oidc/auth"))).toBe(false);
    expect(server.calls.find((c) => c.url.endsWith("/api/events"))!.signal!.aborted).toBe(true);
    expect(server.calls.map((c) => c.url)).toEqual(
      expect.arrayContaining(["http://localhost:3000/_next/static/chunks/main.js", "http://localhost:3000/_next/static/css/app.css"]),
    );
    expect(logs).toEqual([expect.stringMatching(/^\[dev\] routes warmed: 13 of 13 in /)]);
  });

  it("requests nothing but the health check until the server answers", async () => {
    const server = fakeServer(2);
    await warmRoutes("http://localhost:3000", { fetch: server.fetch, log: () => undefined });
    expect(server.calls.slice(0, 3).map((c) => new URL(c.url).pathname)).toEqual(["/api/health", "/api/health", "/api/health"]);
    expect(server.calls).toHaveLength(3 + WARM_PATHS.length + 2);
  });

  it("gives up quietly when the server never answers", async () => {
    const logs: string[] = [];
    const fetch = async (): Promise<Response> => {
      throw new TypeError("fetch failed");
    };
    await warmRoutes("http://localhost:3000", { fetch, log: (m) => logs.push(m), readyTimeoutMs: 0 });
    expect(logs).toEqual([expect.stringMatching(/skipped: http:\/\/localhost:3000 did not answer/)]);
  });

  it("names routes that exist in app/", () => {
    const app = path.resolve(__dirname, "..", "..", "app");
    for (const p of WARM_PATHS) {
      const segments = p.split("/").filter(Boolean);
      const found = resolveRoute(app, segments);
      expect(found, p).toBe(true);
    }
  });
});

/** Whether app/ has a page or route for the segments, taking [param] and [[...catchAll]] folders. */
function resolveRoute(dir: string, segments: string[]): boolean {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const catchAll = entries.find((e) => e.startsWith("[[..."));
  if (segments.length === 0) {
    return ["page.tsx", "route.ts"].some((f) => fs.existsSync(path.join(dir, f))) || (!!catchAll && resolveRoute(path.join(dir, catchAll), []));
  }
  const [head, ...rest] = segments;
  if (entries.includes(head!) && resolveRoute(path.join(dir, head!), rest)) return true;
  const param = entries.find((e) => /^\[[^.[]/.test(e));
  if (param && resolveRoute(path.join(dir, param), rest)) return true;
  return !!catchAll && fs.existsSync(path.join(dir, catchAll, "route.ts"));
}
