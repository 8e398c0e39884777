import fs from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, dashboardOf, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { agentToken, clientFor, idpEnv } from "../integration/idp-support";

/**
 * Oversized request bodies against the built app over real HTTP. Every route that takes a body
 * must refuse one over its limit without holding it: on a declared `Content-Length` before a byte
 * is read, on a chunked body as soon as the limit is crossed. Four concurrent 50 MB uploads must
 * not grow the server's resident memory by more than a modest bound, and change nothing: the
 * agent keeps running unpaused, the mandate, the market, the portfolio and the trades stay as they were.
 */

const MB = 1024 * 1024;
const TOTAL = 50 * MB;
const CHUNK = Buffer.alloc(MB, 0x20);
/** Resident memory the server may gain while it is attacked; reading the bodies would cost ~1 GB. */
const RSS_BOUND = 150 * MB;
/** An answer that does not wait for the 50 MB upload: loopback moves it in well under this. */
const QUICK_MS = 3000;

let app: AppServer;

beforeAll(async () => {
  app = await startApp(idpEnv());
  await waitUntil(() => agentOf(app.url), (a) => a.running && !a.paused, 30_000, "agent running");
});

afterAll(async () => {
  await app?.stop();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  ms: number;
  /** Bytes the client had written when the answer came. */
  sent: number;
}

/**
 * POSTs `total` bytes (`first`, then spaces), with a `Content-Length` or chunked, and stops
 * uploading as soon as the response starts: the answer tells how much the server let through
 * before it replied.
 */
function upload(path: string, total: number, options: { chunked?: boolean; headers?: Record<string, string>; first?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const request = http.request(`${app.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(options.chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(total) }),
        ...options.headers,
      },
    });
    let sent = 0;
    let answered = false;
    let ended = false;
    request.on("response", (response) => {
      answered = true;
      const atAnswer = sent;
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (d: string) => (text += d));
      response.on("end", () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, body: parseJson(text), ms: Date.now() - started, sent: atAnswer });
      });
    });
    // Once answered, a server that stops reading may close the connection under the upload.
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    if (options.first) {
      request.write(options.first);
      sent += Buffer.byteLength(options.first);
    }
    const pump = () => {
      while (!answered && sent < total) {
        const n = Math.min(CHUNK.length, total - sent);
        sent += n;
        if (!request.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          request.once("drain", pump);
          return;
        }
      }
      if (!answered && !ended) {
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

/** Samples the server's resident memory while `work` runs; returns its result and the peak. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = residentBytes();
  const timer = setInterval(() => (peak = Math.max(peak, residentBytes())), 10);
  try {
    const result = await work();
    peak = Math.max(peak, residentBytes());
    return { result, peak };
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
  expect(answer.body).toEqual({ error: "invalid_request", error_description: "The request body is larger than 1024 bytes." });
  expect(answer.ms).toBeLessThan(QUICK_MS);
}

describe("the agent's pause control", () => {
  it("answers four concurrent 50 MB uploads and a chunked one with 413 before reading them, in bounded memory", async () => {
    const before = await snapshot();
    expect(before).toMatchObject({ paused: false, running: true, market: "STABLE" });
    // Warm: the route's module is loaded and a small refusal costs what it costs.
    expect((await upload("/api/agent/pause", 2 * 1024)).status).toBe(413);
    const baseline = residentBytes();

    const { result, peak } = await withPeakRss(async () => {
      const declared = await Promise.all(Array.from({ length: 4 }, () => upload("/api/agent/pause", TOTAL)));
      const chunked = await upload("/api/agent/pause", TOTAL, { chunked: true });
      return { declared, chunked };
    });

    for (const answer of result.declared) {
      expectTooLarge(answer);
      // Refused on the declared length: the answer came long before the upload could finish.
      expect(answer.sent).toBeLessThan(TOTAL / 2);
    }
    expectTooLarge(result.chunked);
    expect(peak - baseline).toBeLessThan(RSS_BOUND);
    expect(await snapshot()).toEqual(before);
  });

  it("reads a body up to 1024 bytes and refuses one byte more", async () => {
    const before = await snapshot();
    // "x" and 1023 spaces: read whole, and refused for what it says, not for its size.
    const atLimit = await upload("/api/agent/pause", 1024, { first: "x" });
    expect(atLimit.status).toBe(400);
    expect(atLimit.body.error).toBe("invalid_request");
    const overByOne = await upload("/api/agent/pause", 1025, { chunked: true });
    expect(overByOne.status).toBe(413);
    expect(await snapshot()).toEqual(before);
  });
});

describe("every other route that could be sent a body", () => {
  it.each(["/api/agent/resume", "/api/agent/mandate", "/api/market/crash", "/api/market/reset"])(
    "%s refuses 50 MB with 413, declared or chunked, and changes nothing",
    async (path) => {
      const before = await snapshot();
      const baseline = residentBytes();
      const { result, peak } = await withPeakRss(async () => [await upload(path, TOTAL), await upload(path, TOTAL, { chunked: true })]);
      const [declared, chunked] = result;
      expectTooLarge(declared!);
      expect(declared!.sent).toBeLessThan(TOTAL / 2);
      expectTooLarge(chunked!);
      expect(peak - baseline).toBeLessThan(RSS_BOUND);
      expect(await snapshot()).toEqual(before);
    },
  );

  it.each(["/api/agent", "/api/state", "/api/inbox", "/api/health"])("%s takes no POST: 405 without reading 50 MB", async (path) => {
    const before = await snapshot();
    const [declared, chunked] = [await upload(path, TOTAL), await upload(path, TOTAL, { chunked: true })];
    for (const answer of [declared!, chunked!]) {
      expect(answer.status).toBe(405);
      expect(answer.ms).toBeLessThan(QUICK_MS);
    }
    expect(declared!.sent).toBeLessThan(TOTAL / 2);
    expect(await snapshot()).toEqual(before);
  });
});

describe("/mcp", () => {
  it("refuses 50 MB from an authenticated caller with 413, declared or chunked, and without a token with 401", async () => {
    const token = await agentToken(await clientFor(app));
    const before = await snapshot();
    const baseline = residentBytes();
    const headers = { authorization: `Bearer ${token}`, accept: "application/json, text/event-stream" };
    const { result, peak } = await withPeakRss(async () => ({
      declared: await upload("/mcp", TOTAL, { headers }),
      chunked: await upload("/mcp", TOTAL, { headers, chunked: true }),
      anonymous: await upload("/mcp", TOTAL),
    }));
    for (const answer of [result.declared, result.chunked]) {
      expect(answer.status).toBe(413);
      expect(answer.body).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
      expect(answer.ms).toBeLessThan(QUICK_MS);
    }
    expect(result.declared.sent).toBeLessThan(TOTAL / 2);
    expect(result.anonymous.status).toBe(401);
    expect(result.anonymous.sent).toBeLessThan(TOTAL / 2);
    expect(peak - baseline).toBeLessThan(RSS_BOUND);
    expect(await snapshot()).toEqual(before);
  });
});
