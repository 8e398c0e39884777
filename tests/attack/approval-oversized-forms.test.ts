import http from "node:http";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { retryOnReset } from "../helpers/retry-on-reset";
import { clientFor, idpEnv, PASSWORD, pollOnce } from "../integration/idp-support";
import { ledgerOf, pendingRequest, type PendingRequest } from "./approval-support";

/**
 * Oversized bodies against the embedded identity server over real HTTP. The /oidc proxy refuses a
 * body over 64 KiB and the approval forms one over 4 KiB, with 413, on a declared Content-Length
 * before reading and on a chunked body as soon as it crosses the limit. Each oversized body here
 * starts with a complete, valid Approve form from a signed-in Alice, so only its size stands
 * between it and an approval: the request must stay pending and the ledger unchanged.
 */
const MB = 1024 * 1024;
/** An answer that does not wait for a 20 MB upload. */
const QUICK_MS = 3000;

let app: AppServer;
let agent: oidc.Configuration;
let request: PendingRequest;
let cookies = "";
let token = "";

beforeAll(async () => {
  app = await startApp(idpEnv({ AGENT_ENABLED: "false" }));
  agent = await clientFor(app);
  request = await pendingRequest(app, agent);
  // Alice signs in; her session cookie and the decision form's token are what every upload carries.
  const keep = (res: Response) => {
    const jar = new Map(cookies ? cookies.split("; ").map((c) => c.split(/=(.*)/s).slice(0, 2) as [string, string]) : []);
    for (const c of res.headers.getSetCookie()) {
      const [name, value] = c.split(";")[0]!.split(/=(.*)/s) as [string, string];
      jar.set(name, value);
    }
    cookies = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  };
  const tokenOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const signInPage = await fetch(request.link);
  keep(signInPage);
  const signedIn = await fetch(`${request.link}/sign-in`, {
    method: "POST",
    headers: { origin: app.url, cookie: cookies, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf: tokenOf(await signInPage.text()), username: "alice", password: PASSWORD, decision: "approve" }),
    redirect: "manual",
  });
  expect(signedIn.status).toBe(303);
  keep(signedIn);
  const review = await fetch(request.link, { headers: { cookie: cookies } });
  const html = await review.text();
  expect(html).toContain('data-testid="decision-form"');
  token = tokenOf(html);
});

afterAll(async () => {
  await app?.stop();
});

interface Answer {
  status: number;
  text: string;
  ms: number;
}

/** POSTs `prefix` padded to `total` bytes, declared or chunked; stops uploading once answered; a reset before the answer is tried again (retryOnReset). */
function upload(path: string, prefix: string, total: number, options: { chunked?: boolean; contentType?: string } = {}): Promise<Answer> {
  return retryOnReset(() => uploadOnce(path, prefix, total, options));
}

function uploadOnce(path: string, prefix: string, total: number, options: { chunked?: boolean; contentType?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = http.request(`${app.url}${path}`, {
      method: "POST",
      headers: {
        origin: app.url,
        cookie: cookies,
        "content-type": options.contentType ?? "application/x-www-form-urlencoded",
        ...(options.chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(total) }),
      },
    });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, text, ms: Date.now() - started });
      });
    });
    // A server that answered and stopped reading may close the connection under the upload.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    const pad = Buffer.alloc(64 * 1024, "a");
    let sent = Buffer.byteLength(prefix);
    req.write(prefix);
    const pump = () => {
      while (!answered && sent < total) {
        const n = Math.min(pad.length, total - sent);
        sent += n;
        if (!req.write(n === pad.length ? pad : pad.subarray(0, n))) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

const approveForm = () => `csrf=${encodeURIComponent(token)}&decision=approve&padding=`;

describe("the approval form", () => {
  it("refuses a 20 MB Approve with Content-Length and a chunked one with 413, and a 5 KB one too", async () => {
    const before = await ledgerOf(app);
    const decision = `/oidc/approve/${request.handle}/decision`;
    const declared = await upload(decision, approveForm(), 20 * MB);
    const chunked = await upload(decision, approveForm(), 20 * MB, { chunked: true });
    const small = await upload(decision, approveForm(), 5 * 1024);
    const smallChunked = await upload(decision, approveForm(), 5 * 1024, { chunked: true });
    for (const answer of [declared, chunked, small, smallChunked]) {
      expect(answer.status).toBe(413);
      expect(answer.ms).toBeLessThan(QUICK_MS);
    }
    // The 20 MB ones stop at the proxy (64 KiB), the 5 KB ones at the form's own limit (4 KiB).
    expect(JSON.parse(declared.text)).toMatchObject({ error: "invalid_request" });
    expect(small.text).toContain('data-testid="approval-bad-request"');

    expect((await pollOnce(app, request.ack.auth_req_id)).body.error).toBe("authorization_pending");
    expect(await ledgerOf(app)).toEqual(before);
  });
});

describe("oidc-provider's endpoints behind the proxy", () => {
  it("refuse 20 MB token and backchannel requests, declared or chunked, with 413", async () => {
    for (const path of ["/oidc/token", "/oidc/backchannel"]) {
      const form = `grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=${request.ack.auth_req_id}&x=`;
      expect((await upload(path, form, 20 * MB)).status).toBe(413);
      expect((await upload(path, form, 20 * MB, { chunked: true })).status).toBe(413);
    }
  });
});

describe("afterwards", () => {
  it("the same Approve at its normal size still works: only the size was refused", async () => {
    const res = await fetch(`${app.url}/oidc/approve/${request.handle}/decision`, {
      method: "POST",
      headers: { origin: app.url, cookie: cookies, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: token, decision: "approve" }),
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, request.ack);
    expect(tokens.access_token).toEqual(expect.any(String));
  });
});
