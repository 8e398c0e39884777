import net from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";

/**
 * A stop (Ctrl-C's SIGINT, delivered twice as npm does; SIGTERM takes the same path) in the
 * middle of a request: the request under way still gets its answer, written through the store, before the app stops;
 * no new connection is taken meanwhile; the process ends by itself with 0. Tried at the worst
 * moment for the server: the request has its headers in and is waiting for the rest of its body.
 */
let app: AppServer;

beforeAll(async () => {
  app = await startApp({ AGENT_ENABLED: "false" });
});
afterAll(async () => app?.stop());

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

it("answers the request under way before stopping, also when the signal comes twice, takes no new connection, and exits with 0", async () => {
  const socket = net.connect(app.port, "127.0.0.1");
  let answer = "";
  let closed = false;
  socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  socket.on("close", () => (closed = true));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  // Headers and half of the body: the crash route is waiting for the rest.
  socket.write(
    `POST /api/market/crash HTTP/1.1\r\nHost: localhost:${app.port}\r\nOrigin: ${app.url}\r\n` +
      "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{",
  );
  await new Promise((resolve) => setTimeout(resolve, 500));

  const pid = app.pid();
  const exited = app.terminate("SIGINT");
  // Ctrl-C under `npm run` with bash as its shell reaches the server twice, from the terminal
  // and from npm, milliseconds apart: still one graceful stop.
  await new Promise((resolve) => setTimeout(resolve, 10));
  process.kill(pid, "SIGINT");
  // The listener closes at once: a new client is refused while the old request finishes.
  for (let i = 0; i < 100 && (await connects(app.port)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await connects(app.port)).toBe(false);
  expect(closed).toBe(false);

  socket.write("}");
  const code = await exited;
  expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(answer).toMatch(/"ok":true/);
  expect(answer).toMatch(/"status":"CRASHING"/);
  expect(code).toBe(0);
  expect(app.output()).toMatch(/SIGINT: finishing the requests under way, then stopping/);

  // What the request wrote was committed before the store closed: the restarted app shows the crash.
  await app.start();
  const state = (await (await fetch(`${app.url}/api/state`)).json()) as { market: { status: string } };
  expect(state.market.status).toBe("CRASHING");
}, 90_000);
