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
 * most the short wait she is told, not after minutes. An attacker who keeps failing at the end of
 * every wait keeps new browsers waiting, but not the browser Alice signed in with before (its
 * device cookie).
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A client of the sign-in form with its own cookies (one jar for every path, which the page's
 * handle-bound sessions do not mind); `forwardedFor` spoofs X-Forwarded-For.
 */
class SignInClient {
  readonly jar = new Map<string, string>();
  private token = "";

  private get cookies(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  private keep(res: Response): string[] {
    const set = res.headers.getSetCookie();
    for (const c of set) {
      const [pair] = c.split(";");
      const i = pair!.indexOf("=");
      if (/Max-Age=0(;|$)/.test(c)) this.jar.delete(pair!.slice(0, i));
      else this.jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    return set;
  }

  async open(link: string): Promise<void> {
    const res = await fetch(link, { headers: { cookie: this.cookies } });
    this.keep(res);
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
    const cookies = this.keep(res);
    const html = await res.text();
    this.token = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? this.token;
    return { status: res.status, retryAfter: res.headers.get("retry-after"), cookies, html };
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

it("an attacker failing at the end of every wait keeps new browsers waiting, never Alice's known browser", async () => {
  // Alice signs in once, on an earlier request, following any wait she is told: her browser gets
  // the device cookie, for every request's page, long-lived, HttpOnly and Strict.
  const alice = new SignInClient();
  const earlier = await pendingRequest(app, agent);
  await alice.open(earlier.link);
  let first = await alice.signIn(earlier.link, PASSWORD);
  for (let tries = 1; first.status === 429 && tries < 3; tries++) {
    await sleep(Number(first.retryAfter) * 1000 + 100);
    first = await alice.signIn(earlier.link, PASSWORD);
  }
  expect(first.status).toBe(303);
  expect(first.cookies.find((c) => c.startsWith("sg_idp_device="))).toMatch(/^sg_idp_device=[^;]+; Path=\/oidc\/approve; Max-Age=15552000; HttpOnly; SameSite=Strict$/);
  const deviceCookie = alice.jar.get("sg_idp_device")!;

  // A new request; the attacker has its link and fails the moment each wait he is told ends, from
  // Alice's address every other time and from a fresh spoofed one otherwise (which the account's
  // wait does not care about), until he has held the account's wait at its cap twice.
  const target = await pendingRequest(app, agent);
  const before = await ledgerOf(app);
  const attacker = new SignInClient();
  await attacker.open(target.link);
  await alice.open(target.link);
  const strangerWaits: number[] = [];
  let failures = 0;
  for (let sent = 0; strangerWaits.filter((w) => w === 8).length < 2 && failures < 12; sent++) {
    const attempt = await attacker.signIn(target.link, `wrong-${failures}`, sent % 2 ? `203.0.113.${sent}` : undefined);
    if (attempt.status === 429) {
      await sleep(Number(attempt.retryAfter) * 1000 + 20);
      continue;
    }
    expect(attempt.status).toBe(401);
    failures++;
    if (failures < 3) continue;

    // The account's wait has just begun again. A browser without Alice's device cookie — with
    // none, or with a forged one — from an address of its own is told to wait, even with the
    // right password ...
    const stranger = new SignInClient();
    await stranger.open(target.link);
    if (failures % 2) stranger.jar.set("sg_idp_device", `${deviceCookie.slice(0, 40)}${deviceCookie[40] === "A" ? "B" : "A"}${deviceCookie.slice(41)}`);
    const refused = await stranger.signIn(target.link, PASSWORD, `198.51.100.${failures}`);
    expect(refused.status).toBe(429);
    expect(refused.cookies.some((c) => c.startsWith("sg_idp_session=") || c.startsWith("sg_idp_device="))).toBe(false);
    strangerWaits.push(Number(refused.retryAfter));

    // ... while Alice's known browser, from the attacker's address, is checked at once and signed in.
    const answer = await alice.signIn(target.link, PASSWORD);
    expect(answer.status).toBe(303);
    expect(answer.cookies.some((c) => c.startsWith("sg_idp_session="))).toBe(true);
    expect(answer.cookies.some((c) => c.startsWith("sg_idp_device="))).toBe(true);
  }
  // The attacker held the account's wait at its 8 s cap (1, 2, 4, 8, 8 s for new browsers); Alice
  // never waited for it, and her sign-ins did not clear it.
  expect(strangerWaits).toEqual([1, 2, 4, 8, 8]);

  expect((await pollOnce(app, target.ack.auth_req_id)).body.error).toBe("authorization_pending");
  expect(await ledgerOf(app)).toEqual(before);
});
