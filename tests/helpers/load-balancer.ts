import http from "node:http";
import { listenOnLoopback } from "./app-server";

/**
 * A loopback load balancer in front of several app instances, as the one public URL they share:
 * each request goes to the preferred instance, or to the next one when that one refuses the
 * connection (killed). The Host header is passed on unchanged, as a proxy that preserves it does.
 */
export interface LoadBalancer {
  url: string;
  /** The instances' own URLs, in the order tried. */
  targets: string[];
  /** The index of the instance tried first. */
  preferred: number;
  close(): Promise<void>;
}

export async function startLoadBalancer(): Promise<LoadBalancer> {
  const state = { targets: [] as string[], preferred: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const order = state.targets.map((_, i) => state.targets[(state.preferred + i) % state.targets.length]!);
      const attempt = (n: number) => {
        const target = order[n];
        if (!target) {
          res.writeHead(502).end("no instance answered\n");
          return;
        }
        const upstream = http.request(new URL(req.url ?? "/", target), { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        upstream.on("error", (error: NodeJS.ErrnoException) => {
          if (error.code === "ECONNREFUSED" && !res.headersSent) attempt(n + 1);
          else res.destroy();
        });
        upstream.end(body);
      };
      attempt(0);
    });
  });
  const listening = await listenOnLoopback(server);
  return Object.assign(state, { url: listening.url.replace("127.0.0.1", "localhost"), close: () => listening.close() });
}
