import http from "node:http";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentView } from "@/lib/agent/view";
import type { DashboardState } from "@/lib/demo";
import { agentOf, dashboardOf, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { freePort, startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser, signInInBrowser } from "../helpers/browser";
import { asInvestor, CookieJar, investorCookie, investorPasswordFor, signInOverHttp, TEST_INVESTOR_EMAIL } from "../helpers/investor-session";

/**
 * Alice's side of the dashboard, attacked: her data and controls need her session, every write
 * also her own origin, the session is hers alone (forged, tampered, signed-out or replayed
 * sign-ins get nothing), and a dashboard session approves no trade. Real HTTP against the built
 * app, its embedded identity server's login page, and real Chromium for the other-port page.
 */
let app: AppServer;
const STRANGER_READS = ["/api/agent", "/api/agent/assurance", "/api/audit/head", "/api/inbox"];
const WRITES: Array<[string, unknown]> = [
  ["/api/agent/pause", {}],
  ["/api/agent/resume", {}],
  ["/api/agent/mandate", { threshold: "1.00", budget: "9999999.00" }],
  ["/api/market/reset", {}],
];

/** What no refused request may change: the agent's controls and mandate, the ledger, the reset. */
async function snapshot() {
  const [agent, state] = await Promise.all([agentOf(app.url), dashboardOf(app.url)]);
  return {
    paused: agent.paused,
    mandate: agent.mandate,
    thresholdCents: state.thresholdCents,
    portfolio: state.portfolio,
    trades: state.trades,
    resets: state.activity.filter((e) => e.kind === "demo.reset").length,
  };
}

const post = (path: string, headers: Record<string, string>, body: unknown = {}) =>
  fetch(`${app.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

beforeAll(async () => {
  app = await startApp({ AGENT_COOLDOWN_SECONDS: "600" });
  await waitUntil(() => agentOf(app.url), (a: AgentView) => a.tokens.agent !== null, 30_000, "the agent's first token");
});
afterAll(async () => app?.stop());

describe("without a session", () => {
  it("reads none of Alice's data: her routes answer 401 login_required, the state only the market", async () => {
    for (const path of STRANGER_READS) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toEqual({ error: "login_required", error_description: expect.any(String) });
    }
    const mail = await fetch(`${app.url}/api/inbox/msg_abcdefgh12345678`);
    expect(mail.status).toBe(401);
    const state = (await (await fetch(`${app.url}/api/state`)).json()) as DashboardState;
    expect(state).toMatchObject({ signedIn: false, portfolio: null, trades: [], activity: [], thresholdCents: null });
    expect(state.market.symbol).toBe("NVDA");
    // The mailbox page sends a stranger to sign in, and back to the mailbox afterwards.
    const inbox = await fetch(`${app.url}/inbox`, { redirect: "manual" });
    expect([303, 307]).toContain(inbox.status);
    expect(inbox.headers.get("location")).toBe("/auth/sign-in?return_to=%2Finbox");
  });

  it("changes nothing: every write of hers answers 401, the market simulator stays public", async () => {
    const before = await snapshot();
    for (const [path, body] of WRITES) {
      const res = await post(path, { origin: app.url }, body);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { error: string }).error, path).toBe("login_required");
    }
    expect((await post("/auth/sign-out", { origin: app.url })).status).toBe(401);
    expect(await snapshot()).toEqual(before);
    expect((await post("/api/market/stabilize", { origin: app.url })).status).toBe(200);
  });

  it("refuses forged, tampered and foreign-key session cookies", async () => {
    const real = (await investorCookie(app.url)).slice("sg_session=".length);
    const flipped = real.slice(0, 40) + (real[40] === "a" ? "b" : "a") + real.slice(41);
    // A cookie sealed by iron-session under another password is well-formed and still nobody's.
    const { sealData } = await import("iron-session");
    const foreign = await sealData({ k: "session", sid: "x".repeat(43), exp: Math.floor(Date.now() / 1000) + 3600 }, { password: "p".repeat(64) });
    for (const value of ["nonsense", flipped, foreign, "x".repeat(5000), real.slice(0, real.indexOf("~") - 3)]) {
      for (const path of ["/api/agent", "/api/inbox"]) {
        expect((await fetch(`${app.url}${path}`, { headers: { cookie: `sg_session=${value}` } })).status, `${path} ${value.slice(0, 20)}`).toBe(401);
      }
      expect((await post("/api/agent/pause", { cookie: `sg_session=${value}`, origin: app.url })).status).toBe(401);
    }
    expect((await agentOf(app.url)).paused).toBe(false);
  });

  it("follows only the market's ticks on the event stream; Alice's stream also carries her activity", async () => {
    const read = async (headers: Record<string, string>, ms: number) => {
      const controller = new AbortController();
      const res = await fetch(`${app.url}/api/events`, { headers, signal: controller.signal });
      const reader = res.body!.getReader();
      let text = "";
      const timer = setTimeout(() => controller.abort(), ms);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
      } catch {
        // aborted: the time is up
      } finally {
        clearTimeout(timer);
      }
      return text;
    };
    const cookie = await investorCookie(app.url);
    const streams = Promise.all([read({}, 2500), read({ cookie }, 2500)]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await post("/api/market/crash", { origin: app.url })).status).toBe(200);
    const [stranger, alice] = await streams;
    expect(stranger).toContain("event: tick");
    expect(stranger).not.toContain("event: activity");
    expect(alice).toContain("event: activity");
    expect(alice).toContain("market.crash");
    expect((await post("/api/market/stabilize", { origin: app.url })).status).toBe(200);
  });
});

describe("with Alice's session but not her page", () => {
  it("refuses a write from another port of localhost, from no origin, and cross-site by Fetch Metadata, changing nothing", async () => {
    const cookie = await investorCookie(app.url);
    const before = await snapshot();
    const otherPort = `http://localhost:${app.port + 1}`;
    const variants: Array<Record<string, string>> = [
      { origin: otherPort },
      {},
      { origin: "null" },
      { origin: app.url, "sec-fetch-site": "same-site" },
      { origin: app.url, "sec-fetch-site": "cross-site" },
    ];
    for (const headers of variants) {
      for (const [path, body] of WRITES) {
        const res = await post(path, { cookie, ...headers }, body);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
        expect(((await res.json()) as { error: string }).error).toBe("forbidden_origin");
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it("a page on another localhost port, in Alice's signed-in Chromium, cannot reset her ledger or raise the budget", async () => {
    const port = await freePort();
    const attacker = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><html><body><h1>Win a prize</h1>
<form id="reset" method="post" action="${app.url}/api/market/reset" target="a"></form>
<form id="mandate" method="post" action="${app.url}/api/agent/mandate" enctype="text/plain" target="b">
<input type="hidden" name='{"threshold":"1.00","budget":"9999999.00","x":"' value='"}'></form>
<iframe name="a"></iframe><iframe name="b"></iframe>
<script>
document.getElementById("reset").submit();
document.getElementById("mandate").submit();
fetch("${app.url}/api/agent/pause", { method: "POST", mode: "no-cors", credentials: "include", body: "{}" }).finally(() => { document.title = "sent"; });
</script></body></html>`);
    });
    await new Promise<void>((r) => attacker.listen(port, "127.0.0.1", () => r()));
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      const context = await browser.newContext();
      const page = await context.newPage();
      await signInInBrowser(page, app.url);
      const before = await snapshot();
      // Alice's browser holds her session; the attacker's page on another port posts with it.
      const evil = await context.newPage();
      await evil.goto(`http://localhost:${port}/`);
      await evil.waitForFunction(() => document.title === "sent", undefined, { timeout: 10_000 });
      await evil.waitForTimeout(1000);
      await evil.screenshot({ path: artifact("dashboard-other-port-attack.png") });
      expect(await snapshot()).toEqual(before);
      expect(app.output()).toMatch(/refused a write of alice: the request comes from http:\/\/localhost:\d+/);
      await context.close();
    } finally {
      await browser?.close();
      await new Promise<void>((r) => attacker.close(() => r()));
    }
  });
});

describe("the session itself", () => {
  it("ends on sign-out: a copy of the cookie taken before is refused afterwards", async () => {
    const { cookie } = await signInOverHttp(app.url);
    expect((await fetch(`${app.url}/api/agent`, { headers: { cookie } })).status).toBe(200);
    const out = await post("/auth/sign-out", { cookie, origin: app.url });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/^sg_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax/);
    expect((await fetch(`${app.url}/api/agent`, { headers: { cookie } })).status).toBe(401);
    // Another session of hers (another browser) is untouched.
    expect((await asInvestor(app.url, "/api/agent")).status).toBe(200);
  });

  it("is a sealed, HttpOnly, SameSite cookie that carries no token", async () => {
    const trace = await signInOverHttp(app.url);
    const value = trace.cookie.slice("sg_session=".length);
    expect(value).toMatch(/^Fe26\.2\*/);
    expect(value).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
    expect(value.length).toBeLessThan(400);
  });

  it("refuses a replayed callback, a callback started in another browser, and a forged code", async () => {
    const jar = new CookieJar();
    const trace = await signInOverHttp(app.url, {}, jar);
    const callback = trace.visited.find((u) => u.includes("/auth/callback?"))!;
    expect(callback).toMatch(/[?&]code=[^&]+&state=|[?&]state=[^&]+/);
    // The same callback again in the same browser: the attempt's cookie was cleared, the code spent.
    const again = await fetch(callback, { headers: { cookie: jar.header() }, redirect: "manual" });
    expect(again.status).toBe(400);
    expect(again.headers.get("set-cookie") ?? "").not.toContain("sg_session=Fe26");
    // In a browser that never started it (login CSRF: the attacker's code in Alice's browser).
    const elsewhere = await fetch(callback, { redirect: "manual" });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.text()).toContain("was not started in this browser");
    // A started attempt with a made-up code: the server refuses it, nobody is signed in.
    const start = await fetch(`${app.url}/auth/sign-in`, { redirect: "manual" });
    const state = new URL(start.headers.get("location")!).searchParams.get("state")!;
    const attempt = start.headers.getSetCookie()[0]!.split(";")[0]!;
    const forged = await fetch(`${app.url}/auth/callback?code=forged-code&state=${state}&iss=${encodeURIComponent(`${app.url}/oidc`)}`, { headers: { cookie: attempt }, redirect: "manual" });
    expect(forged.status).toBe(400);
    expect(forged.headers.get("set-cookie") ?? "").not.toContain("sg_session=Fe26");
  });

  it("does not sign in again after sign-out without the password, even with prompt and max_age stripped from the request", async () => {
    const jar = new CookieJar();
    const { cookie } = await signInOverHttp(app.url, {}, jar);
    expect((await post("/auth/sign-out", { cookie, origin: app.url })).status).toBe(200);
    // The identity server still remembers the browser; its sign-in is now older than the allowance.
    await new Promise((r) => setTimeout(r, 11_000));
    const start = await fetch(`${app.url}/auth/sign-in`, { headers: { cookie: jar.header() }, redirect: "manual" });
    jar.keep(start);
    const authorize = new URL(start.headers.get("location")!);
    expect(authorize.searchParams.get("prompt")).toBe("login");
    expect(authorize.searchParams.get("max_age")).toBe("0");
    authorize.searchParams.delete("prompt");
    authorize.searchParams.delete("max_age");
    let res = await fetch(authorize, { headers: { cookie: jar.header() }, redirect: "manual" });
    for (let hops = 0; hops < 5 && !res.url.includes("/auth/callback"); hops++) {
      jar.keep(res);
      const location = res.headers.get("location");
      expect(location, `hop ${hops} answered ${res.status}`).toBeTruthy();
      res = await fetch(new URL(location!, app.url), { headers: { cookie: jar.header() }, redirect: "manual" });
    }
    // The server skipped the login page (the attack works that far); the app refuses the result.
    expect(res.url).toContain("/auth/callback?code=");
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("did not ask for your password");
    expect(res.headers.get("set-cookie") ?? "").not.toContain("sg_session=Fe26");
  });

  it("shows the identity server's own errors in the app's frame, with no third-party assets", async () => {
    const res = await fetch(`${app.url}/oidc/auth?client_id=sleeping-guardian-dashboard&response_type=code&redirect_uri=${encodeURIComponent("https://evil.example/cb")}&scope=openid`);
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('data-testid="idp-error"');
    expect(html).not.toMatch(/https?:\/\/(?!localhost)/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("returns only to a path of this app after sign-in (no open redirect)", async () => {
    for (const target of ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/auth/sign-out", "javascript:alert(1)", "/€", "/a\tb"]) {
      const jar = new CookieJar();
      const start = await fetch(`${app.url}/auth/sign-in?return_to=${encodeURIComponent(target)}`, { redirect: "manual" });
      expect(start.status).toBe(303);
      jar.keep(start);
      expect(await completeSignIn(start.headers.get("location")!, jar), target).toBe("/");
    }
    const inboxJar = new CookieJar();
    const inboxStart = await fetch(`${app.url}/auth/sign-in?return_to=%2Finbox`, { redirect: "manual" });
    inboxJar.keep(inboxStart);
    expect(await completeSignIn(inboxStart.headers.get("location")!, inboxJar)).toBe("/inbox");
  });

  it("survives a restart of the app, also in the middle of a sign-in", async () => {
    const { cookie } = await signInOverHttp(app.url);
    const jar = new CookieJar();
    const start = await fetch(`${app.url}/auth/sign-in`, { redirect: "manual" });
    jar.keep(start);
    const login = await fetch(start.headers.get("location")!, { headers: { cookie: jar.header() }, redirect: "manual" });
    jar.keep(login);
    await app.restart();
    expect((await fetch(`${app.url}/api/agent`, { headers: { cookie } })).status).toBe(200);
    expect(await completeSignIn(new URL(login.headers.get("location")!, app.url).toString(), jar)).toBe("/");
    expect(jar.get("sg_session")).toMatch(/^Fe26\.2\*/);
  });
});

describe("the login page", () => {
  it("refuses a POST from another origin, without a form token, of a foreign interaction, or too large, and signs nobody in", async () => {
    const { jar, pageUrl, csrf } = await openLoginPage();
    const form = (extra: Record<string, string> = {}) => new URLSearchParams({ csrf, username: TEST_INVESTOR_EMAIL, password: investorPasswordFor(app.url), ...extra }).toString();
    const submit = (headers: Record<string, string>, body = form()) =>
      fetch(`${pageUrl}/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar.header(), ...headers }, body, redirect: "manual" });

    expect((await submit({ origin: `http://localhost:${app.port + 1}` })).status).toBe(403);
    expect((await submit({})).status).toBe(403);
    expect((await submit({ origin: app.url }, form({ csrf: "made-up" }))).status).toBe(403);
    expect((await submit({ origin: app.url }, `${form()}&pad=${"x".repeat(5000)}`)).status).toBe(413);
    // Another browser (without this interaction's cookie) posting the right form token: no interaction.
    const foreign = await fetch(`${pageUrl}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: app.url, cookie: `sg_idp_browser=${jar.get("sg_idp_browser")}` },
      body: form(),
      redirect: "manual",
    });
    expect(foreign.status).toBe(400);
    expect(await foreign.text()).toContain("This sign-in has expired");
    // The real form from the real browser still works afterwards.
    const ok = await submit({ origin: app.url });
    expect(ok.status).toBe(303);
  });

  it("slows password guessing with 429 and Retry-After, and then lets the right password through", async () => {
    // The page is opened first and the form posted at once, so that a slow machine cannot stretch
    // the time between a refusal and the next guess past the wait.
    const openForm = async () => {
      const { jar, pageUrl, csrf } = await openLoginPage();
      return (password: string) =>
        fetch(`${pageUrl}/login`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar.header(), origin: app.url },
          body: new URLSearchParams({ csrf, username: TEST_INVESTOR_EMAIL, password }).toString(),
          redirect: "manual",
        });
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Wrong passwords until six failures are recorded: three free, then waits of 1, 2 and 4 s
    // (each 429 carries Retry-After and is waited out), so the next wait is the longest, 8 s.
    const statuses: number[] = [];
    for (let failures = 0, i = 0; failures < 6; i++) {
      const res = await (await openForm())(`wrong-${i}`);
      statuses.push(res.status);
      if (res.status === 401) failures++;
      else {
        expect(res.status).toBe(429);
        const wait = Number(res.headers.get("retry-after"));
        expect(wait).toBeGreaterThan(0);
        await sleep(wait * 1000);
      }
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    // A right password during the wait is not even checked.
    const limited = await (await openForm())(investorPasswordFor(app.url));
    expect(limited.status, `${statuses.join(",")} then ${limited.status}`).toBe(429);
    const wait = Number(limited.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(0);
    await sleep(wait * 1000 + 500);
    expect((await (await openForm())(investorPasswordFor(app.url))).status).toBe(303);
  }, 60_000);
});

describe("a dashboard session approves nothing", () => {
  it("the approval page asks for her password again, and a decision posted with the dashboard's cookies decides nothing", async () => {
    const trace = await signInOverHttp(app.url);
    expect((await post("/api/market/crash", { origin: app.url })).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.approval?.status === "pending", 45_000, "a pending approval");
    const alice = new Alice(app.url, TEST_INVESTOR_EMAIL, investorPasswordFor(app.url));
    const mail = await alice.waitForApprovalMail();
    const link = new URL(mail.approve);
    const pageUrl = `${app.url}${link.pathname}`;
    // With every cookie of her dashboard sign-in (the app's session and the identity server's own).
    const page = await fetch(pageUrl, { headers: { cookie: trace.jar.header() } });
    const html = await page.text();
    expect(html).toContain('data-testid="sign-in-form"');
    expect(html).not.toContain('data-testid="decision-form"');
    const decided = await fetch(`${pageUrl}/decision`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: trace.jar.header(), origin: app.url },
      body: new URLSearchParams({ csrf: "none", decision: "approve" }).toString(),
      redirect: "manual",
    });
    expect(decided.status).toBe(303);
    expect((await agentOf(app.url)).approval?.status).toBe("pending");
    // Her own sign-in on the page, for this one request, is what approves.
    await alice.decide(mail.approve, "deny");
    await waitUntil(() => agentOf(app.url), (a) => a.approval?.status !== "pending", 30_000, "the denial");
  });
});

/** A sign-in started in a new browser, up to the login page: its cookies, its address and its form token. */
async function openLoginPage(): Promise<{ jar: CookieJar; pageUrl: string; csrf: string }> {
  const jar = new CookieJar();
  const start = await fetch(`${app.url}/auth/sign-in`, { redirect: "manual" });
  jar.keep(start);
  const toLogin = await fetch(start.headers.get("location")!, { headers: { cookie: jar.header() }, redirect: "manual" });
  jar.keep(toLogin);
  const pageUrl = new URL(toLogin.headers.get("location")!, app.url).toString();
  const page = await fetch(pageUrl, { headers: { cookie: jar.header() } });
  jar.keep(page);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  return { jar, pageUrl, csrf };
}

/** Follows a started sign-in from the authorization URL to the app's final redirect; returns where it lands. */
async function completeSignIn(authorizeUrl: string, jar: CookieJar): Promise<string> {
  let res = await fetch(authorizeUrl, { headers: { cookie: jar.header() }, redirect: "manual" });
  jar.keep(res);
  for (let hops = 0; hops < 10; hops++) {
    const location = res.headers.get("location");
    if (res.status === 200) {
      const html = await res.text();
      const action = /action="([^"]*\/login)"/.exec(html)![1]!;
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
      res = await fetch(new URL(action, app.url), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar.header(), origin: app.url },
        body: new URLSearchParams({ csrf, username: TEST_INVESTOR_EMAIL, password: investorPasswordFor(app.url) }).toString(),
        redirect: "manual",
      });
      jar.keep(res);
      continue;
    }
    if (!location) throw new Error(`sign-in stopped with ${res.status}: ${(await res.text()).slice(0, 300)}`);
    if (res.url.includes("/auth/callback")) return location;
    res = await fetch(new URL(location, app.url), { headers: { cookie: jar.header() }, redirect: "manual" });
    jar.keep(res);
  }
  throw new Error("too many redirects");
}
