import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PROXY_BODY_BYTES, proxyToEmbeddedIdp } from "@/lib/idp/proxy";
import { close, createInternalRouter, listen, portOf } from "@/lib/idp/server";

/**
 * The /oidc proxy and the embedded server's internal listener: the headers the approval page
 * decides on (Origin, Sec-Fetch-Site) reach it through both, and a body over the proxy's limit is
 * refused with 413 before anything is forwarded, with or without Content-Length.
 */
const PUBLIC = "http://localhost:3000";
const MB = 1024 * 1024;

interface Seen {
  where: "approval" | "provider";
  path: string;
  origin: string | null;
  site: string | null;
  bytes: number;
}

let server: http.Server;
let port: number;
const seen: Seen[] = [];

beforeAll(async () => {
  const provider = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let bytes = 0;
    req.on("data", (d: Buffer) => (bytes += d.length));
    req.on("end", () => {
      seen.push({ where: "provider", path: req.url ?? "", origin: req.headers.origin ?? null, site: (req.headers["sec-fetch-site"] as string) ?? null, bytes });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  };
  const approval = async (request: Request) => {
    const bytes = (await request.arrayBuffer()).byteLength;
    seen.push({ where: "approval", path: new URL(request.url).pathname, origin: request.headers.get("origin"), site: request.headers.get("sec-fetch-site"), bytes });
    return new Response("ok", { status: 200 });
  };
  server = await listen(0, createInternalRouter(provider, [{ path: "/oidc/approve", web: approval }]));
  port = portOf(server);
});

afterAll(async () => {
  await close(server);
});

function post(path: string, body: BodyInit, headers: Record<string, string> = {}): Request {
  return new Request(`${PUBLIC}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost:3188", "sec-fetch-site": "same-site", ...headers },
    body,
    duplex: "half",
  } as RequestInit);
}

/** A chunked body of `total` bytes, produced only as it is pulled; `pulled()` says how far it got. */
function lazyBody(total: number) {
  let produced = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= total) return controller.close();
      produced += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, pulled: () => produced };
}

describe("headers through the proxy and the internal listener", () => {
  it("deliver Origin and Sec-Fetch-Site as the browser sent them, to the approval page and to oidc-provider", async () => {
    seen.length = 0;
    const page = await proxyToEmbeddedIdp(post("/oidc/approve/apr_x/decision", "decision=approve"), port, PUBLIC);
    expect(page.status).toBe(200);
    const token = await proxyToEmbeddedIdp(post("/oidc/token", "grant_type=x"), port, PUBLIC);
    expect(token.status).toBe(200);
    expect(seen).toEqual([
      { where: "approval", path: "/oidc/approve/apr_x/decision", origin: "http://localhost:3188", site: "same-site", bytes: 16 },
      { where: "provider", path: "/token", origin: "http://localhost:3188", site: "same-site", bytes: 12 },
    ]);
  });
});

describe("body limit of the proxy", () => {
  it("refuses a chunked 20 MB body with 413 after reading no more than the limit, and forwards nothing", async () => {
    seen.length = 0;
    const body = lazyBody(20 * MB);
    const res = await proxyToEmbeddedIdp(post("/oidc/approve/apr_x/decision", body.stream), port, PUBLIC);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: "invalid_request" });
    expect(body.pulled()).toBeLessThanOrEqual(MAX_PROXY_BODY_BYTES + 3 * 64 * 1024);
    expect(seen).toEqual([]);
  });

  it("refuses a declared Content-Length over the limit without reading the body", async () => {
    seen.length = 0;
    const body = lazyBody(20 * MB);
    const declared = post("/oidc/token", body.stream, { "content-length": String(20 * MB) });
    const res = await proxyToEmbeddedIdp(declared, port, PUBLIC);
    expect(res.status).toBe(413);
    expect(body.pulled()).toBeLessThanOrEqual(2 * 64 * 1024);
    expect(seen).toEqual([]);
  });

  it("forwards a body at the limit whole", async () => {
    seen.length = 0;
    const res = await proxyToEmbeddedIdp(post("/oidc/token", new Uint8Array(MAX_PROXY_BODY_BYTES).fill(0x61)), port, PUBLIC);
    expect(res.status).toBe(200);
    expect(seen).toEqual([expect.objectContaining({ where: "provider", bytes: MAX_PROXY_BODY_BYTES })]);
  });
});
