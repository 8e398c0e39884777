import * as oidc from "openid-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { clientFor, idpEnv, PASSWORD, pollOnce } from "../integration/idp-support";
import { ledgerOf, pendingRequest, type PendingRequest } from "./approval-support";

/**
 * Locking Alice out of her approval page over real HTTP. An attacker who has the page's link
 * sends 20 wrong passwords as fast as he can, half of them under spoofed X-Forwarded-For
 * addresses (one of them the loopback address Alice comes from). Brute force stays slow — only
 * the first few guesses are even checked — and Alice, with the right password, is in after at
 * most the short wait she is told, not after minutes.
 */
let app: AppServer;
let agent: oidc.Configuration;
let request: PendingRequest;

beforeAll(async () => {
  app = await startApp(idpEnv({ AGENT_ENABLED: "false" }));
  agent = await clientFor(app);
  request = await pendingRequest(app, agent);
});

afterAll(async () => {
  await app?.stop();
});

/** A client of the sign-in form with its own cookies; `forwardedFor` spoofs X-Forwarded-For. */
class SignInClient {
  private cookies = "";
  private token = "";

  async open(link: string): Promise<void> {
    const res = await fetch(link, { headers: { cookie: this.cookies } });
    const set = res.headers.getSetCookie().map((c) => c.split(";")[0]!);
    if (set.length) this.cookies = set.join("; ");
    this.token = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
  }

  async signIn(link: string, password: string, forwardedFor?: string) {
    const res = await fetch(`${link}/sign-in`, {
      method: "POST",
      headers: {
        origin: new URL(link).origin,
        cookie: this.cookies,
        "content-type": "application/x-www-form-urlencoded",
        ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}),
      },
      body: new URLSearchParams({ csrf: this.token, username: "alice@example.com", password, decision: "approve" }),
      redirect: "manual",
    });
    const html = await res.text();
    this.token = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? this.token;
    return { status: res.status, retryAfter: res.headers.get("retry-after"), cookies: res.headers.getSetCookie(), html };
  }
}

it("20 wrong passwords, spoofed addresses too, keep Alice out for seconds at most; only a few guesses are checked", async () => {
  const before = await ledgerOf(app);
  const attacker = new SignInClient();
  await attacker.open(request.link);
  const spoofed = [undefined, "203.0.113.7", "127.0.0.1", "10.0.0.1, 127.0.0.1", "::1"];
  const answers = [];
  for (let i = 0; i < 20; i++) answers.push(await attacker.signIn(request.link, `wrong-${i}`, spoofed[i % spoofed.length]));

  const statuses = answers.map((a) => a.status);
  expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
  expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
  expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  const waits = answers.filter((a) => a.status === 429).map((a) => Number(a.retryAfter));
  expect(waits.length).toBeGreaterThanOrEqual(15);
  expect(Math.max(...waits)).toBeLessThanOrEqual(8);
  expect(answers.find((a) => a.status === 429)!.html).toContain("Too many sign-in attempts");

  // Alice, from her own browser and address, with the right password.
  const started = Date.now();
  const alice = new SignInClient();
  await alice.open(request.link);
  // She does what the page says: waits the seconds it names (a few at most), and tries again.
  let answer = await alice.signIn(request.link, PASSWORD);
  for (let tries = 1; answer.status === 429 && tries < 3; tries++) {
    expect(Number(answer.retryAfter)).toBeLessThanOrEqual(8);
    await new Promise((r) => setTimeout(r, Number(answer.retryAfter) * 1000 + 100));
    answer = await alice.signIn(request.link, PASSWORD);
  }
  expect(answer.status).toBe(303);
  expect(answer.cookies.some((c) => c.startsWith("sg_idp_session="))).toBe(true);
  expect(Date.now() - started).toBeLessThan(10_000);

  // Nothing was decided by all of this: the request is pending, the ledger unchanged.
  expect((await pollOnce(app, request.ack.auth_req_id)).body.error).toBe("authorization_pending");
  expect(await ledgerOf(app)).toEqual(before);
});
