import "server-only";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { allowedHosts, hostAllowed } from "../net/allowed-hosts";

/**
 * The embedded server's internal HTTP listener on a loopback port. oidc-provider needs Node's
 * req/res, which a Next.js route handler does not have, so app/oidc/[[...path]]/route.ts proxies
 * /oidc/* here. Requests keep their public path (/oidc/...): the approval and login pages are matched on it,
 * and for oidc-provider the /oidc mount is stripped the way Express mounting does it
 * (req.originalUrl keeps the full path, so the URLs it builds include /oidc).
 */
export const MOUNT_PATH = "/oidc";

export type NodeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type WebHandler = (request: Request) => Promise<Response>;

/** A page the embedded server serves itself, below the mount, written against Web or Node APIs. */
export type OwnPage = { path: string } & ({ web: WebHandler } | { node: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> });

export function createInternalRouter(providerCallback: NodeHandler, pages: OwnPage[]): NodeHandler {
  return (req, res) => {
    // Only the /oidc proxy calls this listener (Host 127.0.0.1:<port>): a page rebound to this
    // port names its own host and is refused, as on the app's port (lib/net/allowed-hosts.ts).
    if (!hostAllowed(req.headers.host ?? null, ownHosts(req.socket.localPort))) {
      res.writeHead(421, { "Content-Type": "text/plain; charset=utf-8" }).end("Misdirected request.\n");
      return;
    }
    const url = req.url ?? "/";
    const path = url.split("?")[0]!;
    const page = pages.find((p) => path === p.path || path.startsWith(`${p.path}/`));
    if (page) {
      ("web" in page ? serveWeb(req, res, page.web) : page.node(req, res)).catch((error) => failed(res, error));
      return;
    }
    if (path === MOUNT_PATH || path.startsWith(`${MOUNT_PATH}/`)) {
      (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = url;
      req.url = url.slice(MOUNT_PATH.length) || "/";
      providerCallback(req, res);
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":"not_found"}');
  };
}

const hostsByPort = new Map<number | undefined, ReadonlySet<string>>();

/** The Host values of this listener's own loopback address, made once per port. */
function ownHosts(port: number | undefined): ReadonlySet<string> {
  let hosts = hostsByPort.get(port);
  if (!hosts) hostsByPort.set(port, (hosts = allowedHosts([`http://127.0.0.1:${port}`])));
  return hosts;
}

export async function listen(port: number, handler: NodeHandler): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

export async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Runs a fetch-style handler for a Node request (the approval page is written against Web APIs).
 * Every request header goes through as it came: the page decides on Origin and Sec-Fetch-Site.
 */
async function serveWeb(req: http.IncomingMessage, res: http.ServerResponse, handle: WebHandler): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of [value].flat()) headers.append(name, v);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const request = new Request(`http://127.0.0.1${req.url ?? "/"}`, {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
    duplex: "half",
  } as RequestInit);
  const response = await handle(request);
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) out["set-cookie"] = cookies;
  res.writeHead(response.status, out);
  res.end(Buffer.from(await response.arrayBuffer()));
}

function failed(res: http.ServerResponse, error: unknown): void {
  console.error("[idp] page error:", error instanceof Error ? error.message : error);
  if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
  res.end("Something went wrong on the identity server.");
}
