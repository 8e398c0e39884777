import fs from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";

/**
 * The edges of the HTTP server itself (scripts/serve.mjs), tried as a web page or a client on the
 * network would: WebSocket upgrades nobody serves, methods nobody serves, and a client that never
 * finishes its headers. Each must be answered or cut off, never left holding a connection.
 */
let app: AppServer;

beforeAll(async () => {
  app = await startApp({ AGENT_ENABLED: "false" });
});
afterAll(async () => app?.stop());

interface RawAnswer {
  text: string;
  /** True when the server ended the connection (not this client). */
  closedByServer: boolean;
}

/** Sends raw bytes and collects what comes back until the server closes the connection. */
function raw(request: string, waitMs = 30_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(app.port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedByServer: false });
    }, waitMs);
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closedByServer: true });
    });
    socket.write(request);
  });
}

const host = () => `localhost:${app.port}`;
const upgradeRequest = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: ${host()}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://evil.example\r\n\r\n`;

function openDescriptors(): number {
  return fs.readdirSync(`/proc/${app.pid()}/fd`).length;
}

describe("the server's edges (scripts/serve.mjs)", () => {
  it("answers a WebSocket upgrade it does not serve with 400 and closes it: a page cannot pile up connections", async () => {
    const before = openDescriptors();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => raw(upgradeRequest(i % 2 ? "/" : "/api/events"))),
    );
    for (const answer of answers) {
      expect(answer.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer.closedByServer).toBe(true);
    }
    // The descriptors of 100 refused upgrades are gone (allowing for the app's own connections).
    expect(openDescriptors() - before).toBeLessThan(20);
  });

  it("closes its side of a refused upgrade even when the client never closes its own (half-open)", async () => {
    const before = openDescriptors();
    const clients = await Promise.all(
      Array.from({ length: 100 }, () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ port: app.port, host: "127.0.0.1", allowHalfOpen: true });
          let text = "";
          socket.on("data", (chunk) => (text += chunk.toString("latin1")));
          socket.on("error", reject);
          // The server's FIN: the answer is complete; this client keeps its own side open.
          socket.on("end", () => (text.startsWith("HTTP/1.1 400 ") ? resolve(socket) : reject(new Error(`answered: ${text}`))));
          socket.write(upgradeRequest("/"));
        }),
      ),
    );
    try {
      // Every one of those connections is gone on the server although the clients hold theirs
      // (given a moment: the server closes each right after its answer is written).
      for (let i = 0; i < 50 && openDescriptors() - before >= 20; i++) await new Promise((r) => setTimeout(r, 100));
      expect(openDescriptors() - before).toBeLessThan(20);
    } finally {
      for (const socket of clients) socket.destroy();
    }
  });

  it("answers TRACE with 405 and the methods it serves, without echoing the request (TRACK: Node's 400)", async () => {
    const trace = await raw(`TRACE / HTTP/1.1\r\nHost: ${host()}\r\nCookie: sg_session=secret-value\r\nConnection: close\r\n\r\n`);
    expect(trace.text).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(trace.text).toMatch(/\r\nallow: GET, HEAD, POST, OPTIONS\r\n/i);
    expect(trace.text).not.toContain("secret-value");
    const track = await raw(`TRACK / HTTP/1.1\r\nHost: ${host()}\r\nCookie: sg_session=secret-value\r\nConnection: close\r\n\r\n`);
    expect(track.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(track.text).not.toContain("secret-value");
    expect(app.output()).not.toMatch(/TRACE|TRACK/);
  });

  it("answers OPTIONS * with 204 and Allow, and any other method on * with 400", async () => {
    const options = await raw(`OPTIONS * HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`);
    expect(options.text).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(options.text).toMatch(/\r\nallow: GET, HEAD, POST, OPTIONS\r\n/i);
    const get = await raw(`GET * HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`);
    expect(get.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(app.output()).not.toMatch(/Error: .*\n\s+at /);
  });

  it("cuts off a client that never finishes its headers (no connection held for minutes)", async () => {
    const answer = await raw(`GET /api/health HTTP/1.1\r\nHost: ${host()}\r\nX-Slow: `, 45_000);
    expect(answer.closedByServer).toBe(true);
    expect(answer.text === "" || /^HTTP\/1\.1 408 /.test(answer.text)).toBe(true);
  }, 60_000);

  it("still serves the app after all of that", async () => {
    const res = await fetch(`${app.url}/api/health`);
    expect(res.status).toBe(200);
  });
});
