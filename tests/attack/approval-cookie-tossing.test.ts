import http from "node:http";
import * as oidc from "openid-client";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser } from "../helpers/browser";
import { clientFor, idpEnv, PASSWORD, pollOnce } from "../integration/idp-support";
import { ledgerOf, pendingRequest, type PendingRequest } from "./approval-support";

/**
 * Cookie tossing from another port of the same host, in real Chromium. Cookies ignore ports and
 * SameSite counts http://localhost:<other port> as the same site, so a page there can plant
 * cookies on the approval page's paths and post forms to it with Alice's cookies attached. With
 * Alice signed in on request A's page, such a page plants the browser-nonce and session cookies on
 * request B's paths and auto-submits Approve for B. B must stay pending (the origin check answers 403), and
 * every layer behind that check must hold on its own: a form token is never a cookie's value,
 * and a session made on A's page cannot decide B. Alice's own click on A still works.
 */
let app: AppServer;
let browser: Browser;
let context: BrowserContext;
let agent: oidc.Configuration;
let attacker: http.Server;
let attackerOrigin: string;
let a: PendingRequest;
let b: PendingRequest;
let alicePage: Page;
/** Alice's decision token on A's page (its hidden `csrf` field). */
let aToken: string;

const TOSSED = "tossed-by-another-port";

/** The attacker's page: plants cookies for localhost on B's paths, then posts Approve for B. */
function attackPage(appUrl: string, handle: string): string {
  return `<!doctype html><html><body><h1>Win a prize</h1>
<form id="f" method="post" action="${appUrl}/oidc/approve/${handle}/decision">
<input type="hidden" name="csrf" value="${TOSSED}"><input type="hidden" name="decision" value="approve"></form>
<script>
document.cookie = "sg_idp_browser=${TOSSED}; Domain=localhost; Path=/oidc/approve/${handle}";
document.cookie = "sg_idp_session=${TOSSED}; Path=/oidc/approve/${handle}";
document.getElementById("f").submit();
</script></body></html>`;
}

beforeAll(async () => {
  const port = await freePort();
  attackerOrigin = `http://localhost:${port}`;
  [app, browser] = await Promise.all([startApp(idpEnv({ AGENT_ENABLED: "false" })), launchBrowser()]);
  agent = await clientFor(app);
  a = await pendingRequest(app, agent, { quantity: 11 });
  b = await pendingRequest(app, agent, { quantity: 22 });

  attacker = http.createServer((req, res) => {
    // Host-only cookies for "localhost" from another port land in the same jar as the app's.
    res.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "set-cookie": [`sg_idp_browser=${TOSSED}; Path=/oidc/approve/${b.handle}`, `sg_idp_browser=${TOSSED}; Path=/oidc/approve/${b.handle}/decision`],
    });
    res.end(attackPage(app.url, b.handle));
  });
  await new Promise<void>((resolve) => attacker.listen(port, "127.0.0.1", resolve));

  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  alicePage = await context.newPage();
  await alicePage.goto(a.link);
  await alicePage.getByTestId("sign-in-password").fill(PASSWORD);
  await alicePage.keyboard.press("Enter");
  await alicePage.getByTestId("decision-form").waitFor();
  aToken = (await alicePage.locator('input[name="csrf"]').first().inputValue()) ?? "";
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await new Promise((resolve) => (attacker ? attacker.close(resolve) : resolve(undefined)));
  await app?.stop();
});

const lastPoll = new Map<string, number>();

/** One poll, no sooner than the server's interval after the last one (sooner is slow_down). */
async function pollAtPace(ack: oidc.BackchannelAuthenticationResponse) {
  const due = (lastPoll.get(ack.auth_req_id) ?? 0) + (ack.interval ?? 5) * 1000 + 100;
  if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
  lastPoll.set(ack.auth_req_id, Date.now());
  return (await pollOnce(app, ack.auth_req_id)).body.error;
}

/** B is still undecided: its page asks for a sign-in, and the client polls authorization_pending. */
async function expectBPending() {
  expect(await pollAtPace(b.ack)).toBe("authorization_pending");
  const page = await context.newPage();
  await page.goto(b.link);
  await page.getByTestId("sign-in-form").waitFor();
  await page.close();
}

describe("a page on another localhost port", () => {
  it("tosses cookies onto B's paths and auto-submits Approve: 403, B stays pending, no trade", async () => {
    const before = await ledgerOf(app);
    const page = await context.newPage();
    const decisionPost = page.waitForResponse((r) => r.url().endsWith(`/oidc/approve/${b.handle}/decision`) && r.request().method() === "POST");
    // "commit": the page's script navigates away (the auto-submit) before its load event.
    await page.goto(`${attackerOrigin}/`, { waitUntil: "commit" });
    const answer = await decisionPost;
    expect(answer.status()).toBe(403);
    expect(answer.request().headers()["origin"]).toBe(attackerOrigin);
    await page.getByTestId("approval-bad-request").waitFor();
    await page.screenshot({ path: artifact("attack-cookie-tossing-refused.png") });
    await page.close();

    // The attack was real: the planted cookies sit in Alice's jar on B's paths.
    const planted = (await context.cookies()).filter((c) => c.value === TOSSED);
    expect(planted.map((c) => c.path)).toEqual(expect.arrayContaining([`/oidc/approve/${b.handle}`, `/oidc/approve/${b.handle}/decision`]));

    await expectBPending();
    expect(await ledgerOf(app)).toEqual(before);
  });

  it("refuses an Approve for B from the attacker's origin with a valid-looking form (403), also when the browser calls it same-site", async () => {
    const variants: Record<string, string>[] = [
      { origin: attackerOrigin },
      { origin: attackerOrigin, "sec-fetch-site": "same-site" },
      { origin: app.url, "sec-fetch-site": "same-site" },
      {},
    ];
    for (const headers of variants) {
      const res = await context.request.post(`${app.url}/oidc/approve/${b.handle}/decision`, {
        headers,
        form: { csrf: aToken, decision: "approve" },
        maxRedirects: 0,
      });
      expect(res.status(), JSON.stringify(headers)).toBe(403);
    }
    await expectBPending();
  });
});

describe("behind the origin check", () => {
  it("a session and a form token made on A's page cannot decide B, even with the right Origin", async () => {
    const before = await ledgerOf(app);
    const session = (await context.cookies()).find((c) => c.name === "sg_idp_session" && c.path === `/oidc/approve/${a.handle}`);
    expect(session?.value).toMatch(/^Fe26\.2\*/);
    const cookie = [`sg_idp_session=${session!.value}`, ...(await context.cookies()).filter((c) => c.name === "sg_idp_browser").map((c) => `${c.name}=${c.value}`)].join("; ");
    for (const csrf of [aToken, TOSSED]) {
      const res = await fetch(`${app.url}/oidc/approve/${b.handle}/decision`, {
        method: "POST",
        headers: { origin: app.url, cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, decision: "approve" }),
        redirect: "manual",
      });
      // Not signed in for B: back to B's page, which asks for a sign-in.
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(`/oidc/approve/${b.handle}`);
    }
    // And on A's own page, a form token that is merely a cookie's value (double submit) is refused.
    const doubleSubmit = await fetch(`${app.url}/oidc/approve/${a.handle}/decision`, {
      method: "POST",
      headers: { origin: app.url, cookie: `sg_idp_session=${session!.value}; sg_idp_browser=${TOSSED}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: TOSSED, decision: "approve" }),
      redirect: "manual",
    });
    expect(doubleSubmit.status).toBe(403);
    expect(await pollAtPace(a.ack)).toBe("authorization_pending");
    await expectBPending();
    expect(await ledgerOf(app)).toEqual(before);
  });
});

describe("Alice herself", () => {
  it("approves A by clicking, and A's client gets its token while B stays pending", async () => {
    await alicePage.screenshot({ path: artifact("attack-cookie-tossing-alice-review.png"), fullPage: true });
    await alicePage.getByTestId("approve-button").click();
    await alicePage.locator('[data-testid="approval-result"][data-status="approved"]').waitFor();
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, a.ack);
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.authorization_details).toEqual([expect.objectContaining({ quantity: 11 })]);
    await expectBPending();
  });
});
