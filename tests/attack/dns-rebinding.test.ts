import http from "node:http";
import net from "node:net";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { investorCookie } from "../helpers/investor-session";

/**
 * DNS rebinding. A page on the attacker's name (rebind.attacker.example) first resolves to the
 * attacker's server, then to 127.0.0.1: Alice's browser now sends the page's requests to the app,
 * same-origin as far as it knows, and lets the page read the answers: her mailbox with its
 * approve links, her dashboard, the controls. What the attacker cannot change is the `Host`
 * header, which names the attacker's host. The app answers only the hosts its configuration
 * names, and nothing a misdirected request asks for happens.
 *
 * And the scripts: `npm start` (scripts/serve.mjs) listens on 127.0.0.1 unless HOST says
 * otherwise, and says so when it does.
 */
interface Answer {
  status: number;
  body: string;
}

interface SendOptions {
  method?: string;
  /** Connect here instead of 127.0.0.1 (a LAN neighbour). */
  address?: string;
  port?: number;
  headers?: Record<string, string>;
  body?: string;
}

function get(app: AppServer, path: string, host: string | undefined, options: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
    const request = http.request(
      { host: options.address ?? "127.0.0.1", port: options.port ?? app.port, path, method: options.method ?? "GET", headers, setHost: false, agent: false },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (d: string) => (body += d));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    if (host !== undefined) request.setHeader("host", host);
    request.on("error", reject);
    request.end(options.body);
  });
}

/** The first IPv4 address of this machine that is not loopback: where a LAN neighbour would connect. */
function lanAddress(): string {
  for (const entries of Object.values(os.networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv4" && !entry.internal) return entry.address;
  }
  throw new Error("this machine has no non-loopback IPv4 address to test the listening interface against");
}

describe("a request for another host (DNS rebinding)", () => {
  let app: AppServer;
  const ATTACKER = "rebind.attacker.example";

  beforeAll(async () => {
    app = await startApp({ PRICE_THRESHOLD: "148.00", AGENT_COOLDOWN_SECONDS: "60" });
    // Something worth stealing: the agent's approval mail, with its approve link, in Alice's mailbox.
    expect((await press(app.url, "/api/market/crash")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.approval?.status === "pending", 45_000, "a pending approval and its mail");
  });
  afterAll(async () => app?.stop());

  it("reads nothing: the mailbox, the dashboard, the pages and the identity server answer 421", async () => {
    // Even with Alice's session cookie (which a browser would not send to the attacker's name).
    const cookie = await investorCookie(app.url);
    for (const path of ["/api/inbox", "/api/state", "/", "/inbox", "/api/events", "/oidc/.well-known/openid-configuration", "/.well-known/oauth-protected-resource/mcp"]) {
      const answer = await get(app, path, `${ATTACKER}:${app.port}`, { headers: { cookie } });
      expect(answer.status, path).toBe(421);
      expect(answer.body, path).toMatch(/^Misdirected request/);
      expect(answer.body, path).not.toMatch(/approve|auth_req_id|NVDA|issuer/i);
    }
    // The same requests for the app's own host are answered (the control).
    expect((await get(app, "/api/inbox", `localhost:${app.port}`, { headers: { cookie } })).body).toMatch(/approve/i);
  });

  it("changes nothing: the controls refuse with 421; no reset, no stabilize, no pause, the approval still pending", async () => {
    for (const path of ["/api/market/reset", "/api/market/stabilize", "/api/agent/pause", "/api/agent/mandate", "/mcp", "/oidc/token"]) {
      // With the body a page's fetch sends, and without one: either way refused.
      expect((await get(app, path, `${ATTACKER}:${app.port}`, { method: "POST", body: "{}" })).status, path).toBe(421);
      expect((await get(app, path, `${ATTACKER}:${app.port}`, { method: "POST" })).status, path).toBe(421);
    }
    const kinds = (await dashboardOf(app.url)).activity.map((e) => e.kind);
    expect(kinds).toContain("market.crash");
    expect(kinds).not.toContain("demo.reset");
    expect(kinds).not.toContain("market.stabilize");
    const agent = await agentOf(app.url);
    expect(agent.paused).toBe(false);
    expect(agent.approval?.status).toBe("pending");
  });

  it("answers this machine's names on its port, in any case, and nothing else", async () => {
    for (const host of [`localhost:${app.port}`, `127.0.0.1:${app.port}`, `[::1]:${app.port}`, `LOCALHOST:${app.port}`]) {
      expect((await get(app, "/api/health", host)).status, host).toBe(200);
    }
    for (const host of [`localhost:${app.port + 1}`, "localhost", `${ATTACKER}`, `localhost:${app.port}.${ATTACKER}`, `${lanAddress()}:${app.port}`]) {
      expect((await get(app, "/api/health", host)).status, host).toBe(421);
    }
  });

  it("ignores X-Forwarded-Host, which a page's own fetch may set", async () => {
    const answer = await get(app, "/api/inbox", `${ATTACKER}:${app.port}`, { headers: { "x-forwarded-host": `localhost:${app.port}`, "x-forwarded-proto": "http" } });
    expect(answer.status).toBe(421);
  });

  it("refuses a foreign Host at the embedded identity server's own loopback listener too", async () => {
    const port = Number(/internal port (\d+)/.exec(app.output())?.[1]);
    expect(port).toBeGreaterThan(0);
    const discovery = "/oidc/.well-known/openid-configuration";
    expect((await get(app, discovery, `${ATTACKER}:${port}`, { port })).status).toBe(421);
    expect((await get(app, discovery, `${ATTACKER}:${port}`, { port, headers: { "x-forwarded-host": `localhost:${app.port}` } })).status).toBe(421);
    // The control: the /oidc proxy's own Host, and the public route in front of it.
    expect((await get(app, discovery, `127.0.0.1:${port}`, { port })).status).toBe(200);
    expect((await get(app, discovery, `localhost:${app.port}`)).status).toBe(200);
  });

  it("refuses a request without a Host header: HTTP/1.1 with 400 (RFC 9112 §3.2), HTTP/1.0 with 421", async () => {
    expect((await get(app, "/api/inbox", undefined)).status).toBe(400);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = "";
      const socket = net.connect(app.port, "127.0.0.1", () => socket.write("GET /api/inbox HTTP/1.0\r\n\r\n"));
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => (text += d));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.[01] 421 /);
    expect(answer).not.toMatch(/approve/i);
  });
});

describe("npm start (scripts/serve.mjs)", () => {
  it("listens on 127.0.0.1 only when HOST is not set", async () => {
    const app = await startApp({ HOST: "" }, { throughServeScript: true });
    try {
      expect((await get(app, "/api/health", `localhost:${app.port}`)).status).toBe(200);
      await expect(get(app, "/api/health", `localhost:${app.port}`, { address: lanAddress() })).rejects.toMatchObject({ code: "ECONNREFUSED" });
      expect(app.output()).not.toMatch(/\[serve\] HOST=/);
    } finally {
      await app.stop();
    }
  });

  it("listens on every interface with HOST=0.0.0.0, and says what that exposes", async () => {
    const app = await startApp({ HOST: "0.0.0.0" }, { throughServeScript: true });
    try {
      expect(app.output()).toMatch(/\[serve\] listening on 0\.0\.0\.0, beyond this machine: anyone who can reach it can watch the public market.*in the clear/);
      const lan = lanAddress();
      // A page on the network's own address is refused (not PUBLIC_URL's host) ...
      expect((await get(app, "/api/health", `${lan}:${app.port}`, { address: lan })).status).toBe(421);
      // ... but a client on the network sends whatever Host it likes: the warning is what protects.
      expect((await get(app, "/api/health", `localhost:${app.port}`, { address: lan })).status).toBe(200);
    } finally {
      await app.stop();
    }
  });

  it("takes -H passed through as the interface, and warns as for HOST", async () => {
    const app = await startApp({ HOST: "" }, { throughServeScript: true, extraArgs: ["-H", "0.0.0.0"] });
    try {
      expect(app.output()).toMatch(/\[serve\] listening on 0\.0\.0\.0, beyond this machine/);
      expect((await get(app, "/api/health", `localhost:${app.port}`, { address: lanAddress() })).status).toBe(200);
    } finally {
      await app.stop();
    }
  });
});
