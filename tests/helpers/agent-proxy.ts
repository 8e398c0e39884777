import http from "node:http";
import { listenOnLoopback } from "./app-server";

/**
 * A loopback HTTP proxy in front of the app, for the agent's own traffic (AGENT_INTERNAL_URL).
 * `blockIdp` makes the identity server unreachable for the agent only: requests under /oidc get
 * their connection closed, /mcp still works, and the test (Alice) still reaches the app directly.
 */
export interface AgentProxy {
  url: string;
  target: string | undefined;
  blockIdp: boolean;
  blocked: number;
  close(): Promise<void>;
}

export async function startAgentProxy(): Promise<AgentProxy> {
  const state = { target: undefined as string | undefined, blockIdp: false, blocked: 0 };
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    if (!state.target || (state.blockIdp && path.startsWith("/oidc"))) {
      if (state.target) state.blocked += 1;
      req.socket.destroy();
      return;
    }
    const target = new URL(path, state.target);
    const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  // The proxy is its state: what the test sets is what the next request sees.
  return Object.assign(state, await listenOnLoopback(server));
}
