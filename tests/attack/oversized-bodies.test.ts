import fs from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { retryOnReset } from "../helpers/retry-on-reset";
import { investorCookie } from "../helpers/investor-session";
import { agentToken, clientFor, idpEnv } from "../integration/idp-support";

/**
 * Oversized request bodies against the built app over real HTTP. Every route that takes a body
 * must refuse one over its limit without holding it: on a declared `Content-Length` before a byte
 * is read, on a chunked body as soon as the limit is crossed. Concurrent 50 MB uploads must not
 * grow the server's resident memory by more than a modest bound, and change nothing: the agent
 * keeps running unpaused; the mandate, the market, the portfolio and the trades stay as they were.
 */

const MB = 1024 * 1024;
const TOTAL = 50 * MB;
const CHUNK = Buffer.alloc(MB, 0x20);
/** Resident memory the server may gain under attack; reading the bodies whole costs ~1 GB. */
const RSS_BOUND = 150 * MB;
/** An answer that does not wait for a 50 MB upload. */
const QUICK_MS = 3000;
/** An upload that got no answer by then is reported as status 0. */
const NO_ANSWER_MS = 15_000;

let app: AppServer;

beforeAll(async () => {
  app = await startApp(idpEnv());
  await waitUntil(() => agentOf(app.url), (a) => a.running && !a.paused, 30_000, "agent running");
});

afterAll(async () => {
  await app?.stop();
});

interface Answer {
  /** 0 when no answer came within NO_ANSWER_MS. */
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

interface UploadOptions {
  /** No Content-Length: `Transfer-Encoding: chunked`. */
  chunked?: boolean;
  /**
   * Send only this many bytes and then wait: a server that reads the body before it answers never
   * answers, one that refuses on the declared length answers at once.
   */
  stallAfter?: number;
  headers?: Record<string, string>;
  /** The first bytes of the body; spaces follow. */
  first?: string;
}

/**
 * POSTs `total` bytes, with a `Content-Length` (the default) or chunked, and stops uploading as
 * soon as the response starts; a reset before the answer is tried again (retryOnReset).
 */
/** An upload from Alice's own dashboard (her session, the app's Origin) unless `headers` say otherwise. */
async function upload(path: string, total: number, options: UploadOptions = {}): Promise<Answer> {
  const headers = { cookie: await investorCookie(app.url), origin: app.url, ...options.headers };
  return retryOnReset(() => uploadOnce(path, total, { ...options, headers }));
}

function uploadOnce(path: string, total: number, options: UploadOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const request = http.request(`${app.url}${path}`, {
      method: "POST",
      agent: false,
      headers: {
        "content-type": "application/json",
        ...(options.chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(total) }),
        ...options.headers,
      },
    });
    const limit = Math.min(total, options.stallAfter ?? total);
    let sent = 0;
    let answered = false;
    let ended = false;
    const timer = setTimeout(() => {
      answered = true;
      request.destroy();
      resolve({ status: 0, body: {}, ms: Date.now() - started });
    }, NO_ANSWER_MS);
    request.on("response", (response) => {
      answered = true;
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (d: string) => (text += d));
      response.on("end", () => {
        clearTimeout(timer);
        request.destroy();
        resolve({ status: response.statusCode ?? 0, body: parseJson(text), ms: Date.now() - started });
      });
    });
    // Once answered, a server that stops reading may close the connection under the upload.
    request.on("error", (error) => {
      if (answered) return;
      clearTimeout(timer);
      reject(error);
    });
    if (options.first) {
      request.write(options.first);
      sent += Buffer.byteLength(options.first);
    }
    const pump = () => {
      while (!answered && sent < limit) {
        const n = Math.min(CHUNK.length, limit - sent);
        sent += n;
        if (!request.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          request.once("drain", pump);
          return;
        }
      }
      if (!answered && !ended && sent >= total) {
        ended = true;
        request.end();
      }
    };
    pump();
  });
}

function parseJson(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text };
  }
}

function residentBytes(): number {
  const status = fs.readFileSync(`/proc/${app.pid()}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error("no VmRSS in /proc status");
  return Number(kb[1]) * 1024;
}

/** Runs `work` while sampling the server's resident memory; returns its result and the growth. */
async function withRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const baseline = residentBytes();
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, residentBytes())), 10);
  try {
    const result = await work();
    peak = Math.max(peak, residentBytes());
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(timer);
  }
}

/** What an attack must leave unchanged. */
async function snapshot() {
  const [agent, state] = await Promise.all([agentOf(app.url), dashboardOf(app.url)]);
  const { portfolio } = state;
  if (!portfolio) throw new Error("Alice has no portfolio");
  return {
    paused: agent.paused,
    running: agent.running,
    mandate: agent.mandate,
    thresholdCents: state.thresholdCents,
    market: state.market.status,
    cashCents: portfolio.cashCents,
    holdings: portfolio.holdings.map((h) => ({ symbol: h.symbol, quantity: h.quantity, costCents: h.costCents })),
    trades: state.trades,
  };
}

function expectTooLarge(answer: Answer): void {
  expect(answer.status).toBe(413);
  expect(answer.body).toEqual({ error: "invalid_request", error_description: expect.any(String) });
  expect(answer.ms).toBeLessThan(QUICK_MS);
}

describe("the agent's pause control", () => {
  it("answers four concurrent 50 MB uploads with 413 at once and holds none of them", async () => {
    const before = await snapshot();
    expect(before).toMatchObject({ paused: false, running: true, market: "STABLE" });
    // Warm: the route's module is loaded before memory is measured.
    expect((await upload("/api/agent/pause", 2048)).status).toBe(413);

    const declared = await withRssGrowth(() => Promise.all(Array.from({ length: 4 }, () => upload("/api/agent/pause", TOTAL))));
    for (const answer of declared.result) expectTooLarge(answer);
    expect(declared.growth).toBeLessThan(RSS_BOUND);

    const chunked = await withRssGrowth(() => Promise.all(Array.from({ length: 4 }, () => upload("/api/agent/pause", TOTAL, { chunked: true }))));
    for (const answer of chunked.result) expectTooLarge(answer);
    expect(chunked.growth).toBeLessThan(RSS_BOUND);

    expect(await snapshot()).toEqual(before);
  });

  it("refuses a stranger's 50 MB upload with 401 at once, before reading it", async () => {
    const before = await snapshot();
    for (const answer of await Promise.all([
      upload("/api/agent/pause", TOTAL, { stallAfter: 64 * 1024, headers: { cookie: "" } }),
      upload("/api/agent/pause", TOTAL, { chunked: true, stallAfter: 64 * 1024, headers: { cookie: "" } }),
    ])) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: "login_required", error_description: expect.any(String) });
      expect(answer.ms).toBeLessThan(QUICK_MS);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("refuses on the declared length without waiting for the body", async () => {
    const before = await snapshot();
    expectTooLarge(await upload("/api/agent/pause", TOTAL, { stallAfter: 64 * 1024 }));
    expect(await snapshot()).toEqual(before);
  });

  it("reads a body of 1024 bytes and refuses one of 1025", async () => {
    const before = await snapshot();
    // "x" and 1023 spaces: read whole, and refused for what it says, not for its size.
    const atLimit = await upload("/api/agent/pause", 1024, { first: "x" });
    expect(atLimit.status).toBe(400);
    expect(atLimit.body.error).toBe("invalid_request");
    expect((await upload("/api/agent/pause", 1025, { first: "x", chunked: true })).status).toBe(413);
    expect((await upload("/api/agent/pause", 1025, { first: "x" })).status).toBe(413);
    expect(await snapshot()).toEqual(before);
  });
});

describe("every other route that could be sent a body", () => {
  it.each(["/api/agent/resume", "/api/agent/mandate", "/api/market/crash", "/api/market/reset"])(
    "%s refuses 50 MB with 413, declared or chunked, and changes nothing",
    async (path) => {
      const before = await snapshot();
      const { result, growth } = await withRssGrowth(() =>
        Promise.all([upload(path, TOTAL), upload(path, TOTAL, { chunked: true }), upload(path, TOTAL, { stallAfter: 64 * 1024 })]),
      );
      for (const answer of result) expectTooLarge(answer);
      expect(growth).toBeLessThan(RSS_BOUND);
      expect(await snapshot()).toEqual(before);
    },
  );

  it.each(["/api/agent", "/api/state", "/api/inbox", "/api/health"])("%s takes no POST: 405 without reading 50 MB", async (path) => {
    const before = await snapshot();
    const answers = await Promise.all([upload(path, TOTAL, { stallAfter: 64 * 1024 }), upload(path, TOTAL, { chunked: true, stallAfter: 64 * 1024 })]);
    for (const answer of answers) {
      expect(answer.status).toBe(405);
      expect(answer.ms).toBeLessThan(QUICK_MS);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe("/mcp", () => {
  it("refuses 50 MB from an authenticated caller with 413, declared or chunked, and without a token with 401", async () => {
    const token = await agentToken(await clientFor(app));
    const before = await snapshot();
    const headers = { authorization: `Bearer ${token}`, accept: "application/json, text/event-stream" };
    const { result, growth } = await withRssGrowth(() =>
      Promise.all([
        upload("/mcp", TOTAL, { headers }),
        upload("/mcp", TOTAL, { headers, chunked: true }),
        upload("/mcp", TOTAL, { headers, stallAfter: 64 * 1024 }),
        upload("/mcp", TOTAL, { stallAfter: 64 * 1024 }),
      ]),
    );
    const [declared, chunked, stalled, anonymous] = result;
    for (const answer of [declared!, chunked!, stalled!]) {
      expect(answer.status).toBe(413);
      expect(answer.body).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
      expect(answer.ms).toBeLessThan(QUICK_MS);
    }
    expect(anonymous!.status).toBe(401);
    expect(anonymous!.ms).toBeLessThan(QUICK_MS);
    expect(growth).toBeLessThan(RSS_BOUND);
    expect(await snapshot()).toEqual(before);
  });
});
