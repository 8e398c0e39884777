import http from "node:http";
import type { AddressInfo } from "node:net";

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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get target() {
      return state.target;
    },
    set target(v) {
      state.target = v;
    },
    get blockIdp() {
      return state.blockIdp;
    },
    set blockIdp(v) {
      state.blockIdp = v;
    },
    get blocked() {
      return state.blocked;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
