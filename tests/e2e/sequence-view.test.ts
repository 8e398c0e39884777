import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SequenceResponse } from "@/lib/sequence/types";
import { agentOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser, signInInBrowser } from "../helpers/browser";
import { asInvestor } from "../helpers/investor-session";

/**
 * The sequence view in real Chromium against the built app: the empty state, an approved run
 * filling in live (Alice reads the mail and approves in the browser) with every message in order,
 * a denied run and an expired run with their endings, a past order picked from the selector, and
 * the route refusing bad order ids. Never a token in what the view or its route shows.
 * SEQUENCE_SCREENSHOT_DIR, when set, also receives the desktop screenshot (for docs/).
 */
const PASSWORD = "alice-seq-password-1";
const EXPIRY_SECONDS = 25;
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./;

let app: AppServer;
let browser: Browser;
let context: BrowserContext;
let alice: Alice;
const seenMail: string[] = [];

class SequencePage {
  constructor(readonly page: Page) {}
  async open(url: string) {
    await this.page.goto(url);
    await this.page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
    await this.page.getByTestId("sequence-view").waitFor();
  }
  view = () => this.page.getByTestId("sequence-view");
  message = (kind: string) => this.view().locator(`[data-testid="sequence-message"][data-kind="${kind}"]`);
  ending = (outcome: string) => this.view().locator(`[data-testid="sequence-ending"][data-outcome="${outcome}"]`);
  async kinds(): Promise<string[]> {
    return this.view().locator('[data-testid="sequence-message"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-kind")!));
  }
  async steps(): Promise<number[]> {
    return this.view().locator('[data-testid="sequence-message"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-step"))));
  }
  /** Focuses the message's arrow (as Tab would) and returns its details panel's fields. */
  async details(kind: string): Promise<Record<string, string>> {
    await this.message(kind).getByRole("button").focus();
    const details = this.view().locator(`[data-testid="sequence-details"][data-kind="${kind}"]`);
    await details.waitFor();
    const fields = await details.getByTestId("sequence-field").evaluateAll((els) => els.map((e) => [e.getAttribute("data-name")!, e.querySelector("dd")!.textContent!] as const));
    return Object.fromEntries(fields);
  }
  shot = (name: string) => this.view().screenshot({ path: artifact(name) });
}

/** `sub` appears in `list` in this order (other items may stand between). */
function expectInOrder(list: string[], sub: string[]) {
  const at = sub.map((k) => list.indexOf(k));
  expect(at.every((i) => i >= 0), `${sub.join(", ")} all in ${list.join(", ")}`).toBe(true);
  expect([...at].sort((a, b) => a - b), `order of ${sub.join(", ")} in ${list.join(", ")}`).toEqual(at);
}

async function sequenceJson(query = ""): Promise<{ status: number; text: string }> {
  const res = await asInvestor(app.url, `/api/sequence${query}`);
  return { status: res.status, text: await res.text() };
}

async function crash() {
  expect((await press(app.url, "/api/market/crash")).status).toBe(200);
  const mail = await alice.waitForApprovalMail(seenMail, 45_000);
  seenMail.push(mail.id);
  return mail;
}

async function resetDemo() {
  expect((await press(app.url, "/api/market/reset")).status).toBe(200);
  await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null, 15_000, "MONITORING after reset");
}

beforeAll(async () => {
  [app, browser] = await Promise.all([
    startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_APPROVAL_EXPIRY_SECONDS: String(EXPIRY_SECONDS) }),
    launchBrowser(),
  ]);
  context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
  // The sequence is Alice's: the browser signs in once, its pages share the session.
  const signIn = await context.newPage();
  await signInInBrowser(signIn, app.url, PASSWORD);
  await signIn.close();
  alice = new Alice(app.url, "alice@example.com", PASSWORD);
});
afterAll(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
});

describe("GET /api/sequence refuses what is not an order of the investor", () => {
  it("answers a stranger 401 login_required, whatever the query", async () => {
    for (const query of ["", "?order=ord_ABCDEFGHJKLMNPQR2345", "?order=1"]) {
      const res = await fetch(`${app.url}/api/sequence${query}`);
      expect(res.status, query).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe("login_required");
    }
  });

  it.each([
    ["?order=1", 400],
    ["?order=ord_short", 400],
    ["?order=ord_ABCDEFGHJKLMNPQR2345%27%20OR%201=1--", 400],
    ["?order=%00", 400],
    ["?order=ord_ABCDEFGHJKLMNPQR2345&order=ord_ABCDEFGHJKLMNPQR2345", 400],
    ["?orderId=ord_ABCDEFGHJKLMNPQR2345", 400],
    [`?order=ord_${"A".repeat(300)}`, 400],
    ["?order=ord_ABCDEFGHJKLMNPQR2345", 404],
  ])("%s → %i", async (query, status) => {
    const res = await sequenceJson(query);
    expect(res.status).toBe(status);
    expect(JSON.parse(res.text).error).toBe(status === 400 ? "invalid_request" : "not_found");
  });

  it("answers an app without orders with no sequence", async () => {
    const res = await sequenceJson();
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ orders: [], sequence: null });
  });
});

describe("the sequence view in Chromium", () => {
  let approvedOrderId: string;

  it("says what to do when there is no flow yet", async () => {
    const view = new SequencePage(await context.newPage());
    await view.open(app.url);
    const empty = view.view().getByTestId("sequence-empty");
    await empty.waitFor();
    expect(await empty.innerText()).toMatch(/^No approval flow yet — click Trigger Market Crash\./);
    await view.page.close();
  });

  it("fills in live through an approved run and shows every message in order, decoded, each linked to its spec", async () => {
    const view = new SequencePage(await context.newPage());
    await view.open(app.url);
    await view.view().getByTestId("sequence-empty").waitFor();

    await view.page.getByTestId("crash-button").click();
    // The diagram fills in without a reload while the agent waits for Alice.
    await view.message("ciba_request").waitFor({ timeout: 45_000 });
    await view.ending("in_progress").waitFor();
    expectInOrder(await view.kinds(), ["agent_call", "challenge", "order_frozen", "ciba_request"]);
    const bindingMessage = await view.page.getByTestId("approval-binding-message").first().innerText();

    // Alice opens the mail in her mailbox and approves on the identity server's page.
    const inbox = await context.newPage();
    await inbox.goto(`${app.url}/inbox`);
    await inbox.getByTestId("mail-item").first().click();
    const mail = inbox.frameLocator('[data-testid="mail-body"]');
    await mail.getByTestId("mail-approve-link").click();
    await inbox.getByTestId("sign-in-password").fill(PASSWORD);
    await inbox.getByTestId("sign-in-submit").click();
    await inbox.getByTestId("approve-button").click();
    await inbox.locator('[data-testid="approval-result"][data-status="approved"]').waitFor();
    await inbox.close();
    seenMail.push(...(await alice.inbox()).map((m) => m.id));

    await view.page.bringToFront();
    await view.ending("executed").waitFor({ timeout: 30_000 });
    expect(await view.view().getByTestId("sequence-scroll").getAttribute("data-layout")).toBe("wide");
    const kinds = await view.kinds();
    const always = ["order_frozen", "agent_call", "challenge", "ciba_request", "ciba_ack", "notification", "mail_opened", "user_approves", "final_poll", "token_response", "trade_call", "trade_executed"];
    // authorization_pending shows when a poll fell before Alice's decision (it did unless she was very quick).
    const polled = kinds.includes("poll") ? ["poll", "poll_pending"] : [];
    expect([...kinds].sort()).toEqual([...always, ...polled].sort());
    expectInOrder(kinds, ["agent_call", "challenge", "order_frozen", "ciba_request", "ciba_ack", "mail_opened", "user_approves", "final_poll", "token_response", "trade_call", "trade_executed"]);
    expectInOrder(kinds, ["ciba_request", "notification", "mail_opened"]);
    if (polled.length) expectInOrder(kinds, ["ciba_ack", "poll", "poll_pending", "user_approves"]);
    expect(await view.steps()).toEqual(kinds.map((_, i) => i + 1));

    // Each arrow between the right lanes, with its decoded label.
    const arrow = async (kind: string) => {
      const m = view.message(kind);
      return `${await m.getAttribute("data-from")}>${await m.getAttribute("data-to")} ${await m.getByTestId("sequence-label-text").textContent()}`;
    };
    expect(await arrow("agent_call")).toBe("agent>mcp buy_stock · agent token");
    expect(await arrow("challenge")).toBe("mcp>agent 403 insufficient_authorization · order");
    expect(await arrow("notification")).toMatch(/^as>mailbox /);
    expect(await arrow("mail_opened")).toBe("mailbox>user Alice opens the email");
    expect(await arrow("user_approves")).toBe("user>as signs in and approves");
    expect(await arrow("token_response")).toBe("as>agent on-behalf-of token · sub alice, act aurelius");
    expect(await arrow("trade_executed")).toMatch(/^mcp>agent executed: trade \d+, \d+ NVDA at \d+\.\d\d USD$/);

    // The details, from the keyboard: the challenge, the CIBA request, the token, the trade.
    const challenge = await view.details("challenge");
    expect(challenge["WWW-Authenticate"]).toBe('Bearer error="insufficient_authorization", scope="stock:trade", authorization_remediation="…", resource_metadata="…"');
    expect(challenge.authorization_details).toMatch(/^\[stock_trade ord_\w+: buy \d+ NVDA, limit \d+\.\d\d USD\]$/);
    const request = await view.details("ciba_request");
    expect(request.binding_message).toBe(bindingMessage);
    expect(request.login_hint).toBe("alice");
    expect(request.scope).toBe("openid stock:read stock:trade");
    expect(request.authorization_details).toMatch(/^\[\{type: "stock_trade", order_id: ord_\w+, buy \d+ NVDA, limit_price \d+\.\d\d/);
    expect(request.actor_token).toBe("agent token (sub aurelius; never shown)");
    const ack = await view.details("ciba_ack");
    expect(ack.expires_in).toBe(`${EXPIRY_SECONDS} s`);
    expect(ack.interval).toMatch(/^\d+ s$/);
    const token = await view.details("token_response");
    expect(token).toMatchObject({ sub: "alice", act: '{"sub":"aurelius"}', scope: "openid stock:read stock:trade" });
    expect(token.jti).toMatch(/^\S{8,}$/);
    expect(token["agent's check"]).toBe("accepted: the on-behalf-of token grants the frozen order");
    const trade = await view.details("trade_call");
    expect(trade).toMatchObject({ "token sub": "alice", "token act": '{"sub":"aurelius"}' });
    expect(trade["token jti"]).toBe(token.jti);

    // ↓ moves to the next arrow; its details follow.
    await view.message("challenge").getByRole("button").focus();
    await view.page.keyboard.press("ArrowDown");
    // The broker's challenge names the order; the agent's check and record of it comes next.
    await view.view().locator('[data-testid="sequence-details"][data-kind="order_frozen"]').waitFor();
    expect(await view.page.evaluate(() => document.activeElement?.closest("[data-testid=sequence-message]")?.getAttribute("data-kind"))).toBe("order_frozen");

    // Every arrow links to the spec section it follows.
    expect(await view.message("challenge").getByTestId("sequence-spec-link").getAttribute("href")).toBe("https://www.rfc-editor.org/rfc/rfc6750#section-3.1");
    expect(await view.message("ciba_request").getByTestId("sequence-spec-link").getAttribute("href")).toMatch(/openid-client-initiated-backchannel-authentication-core-1_0\.html#rfc\.section\.7\.1$/);
    expect(await view.message("token_response").getByTestId("sequence-spec-link").getAttribute("href")).toMatch(/#rfc\.section\.10\.1\.1$/);
    expect(await view.view().getByTestId("sequence-spec-link").count()).toBe(kinds.length);

    // No token anywhere: not in the page, not in the route's answer.
    expect(await view.page.content()).not.toMatch(JWT_SHAPE);
    const body = await sequenceJson();
    approvedOrderId = (JSON.parse(body.text) as SequenceResponse).sequence!.orderId;
    expect(body.text).not.toMatch(JWT_SHAPE);
    expect(body.text).toContain('"sub\\":\\"aurelius\\"}');

    await view.message("token_response").getByRole("button").focus();
    await view.shot("sequence-desktop.png");
    if (process.env.SEQUENCE_SCREENSHOT_DIR) fs.copyFileSync(artifact("sequence-desktop.png"), path.join(process.env.SEQUENCE_SCREENSHOT_DIR, "sequence-view.png"));
    await view.page.close();
  });

  it("keeps all five lanes on a phone's screen in the compact form, without sideways scrolling", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const view = new SequencePage(await phone.newPage());
    await signInInBrowser(view.page, app.url, PASSWORD);
    await view.open(app.url);
    await view.ending("executed").waitFor();
    expect(await view.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const scroll = view.view().locator('[data-testid="sequence-scroll"][data-layout="compact"]');
    await scroll.waitFor();
    const [scrollWidth, clientWidth] = await scroll.evaluate((el) => [el.scrollWidth, el.clientWidth]);
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    const lanes = view.view().getByTestId("sequence-lane");
    expect(await lanes.count()).toBe(5);
    for (const box of await Promise.all((await lanes.all()).map((l) => l.locator("rect").boundingBox()))) {
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(390);
      expect(box!.width).toBeGreaterThanOrEqual(50);
    }
    // Each row still names its step and time next to the label.
    expect(await view.message("challenge").getByTestId("sequence-label").textContent()).toMatch(/^#2 \d\d:\d\d:\d\d 403 insufficient_authorization · order$/);
    await view.message("trade_executed").getByRole("button").focus();
    await view.view().scrollIntoViewIfNeeded();
    await view.shot("sequence-phone.png");
    await phone.close();
  });

  it("ends a denied run with Alice's denial and access_denied, and no trade", async () => {
    await resetDemo();
    const view = new SequencePage(await context.newPage());
    await view.open(app.url);
    const mail = await crash();
    await alice.decide(mail.deny, "deny");
    await view.ending("denied").waitFor({ timeout: 30_000 });
    expect(await view.view().getByTestId("sequence-ending").innerText()).toBe("Alice denied the request: no trade.");
    const kinds = await view.kinds();
    expect(kinds.slice(-3)).toEqual(["user_denies", "final_poll", "access_denied"]);
    expect(kinds).not.toContain("trade_call");
    expect(kinds).not.toContain("token_response");
    expect((await view.details("access_denied")).error).toBe("access_denied");
    await view.shot("sequence-denied.png");
    await view.page.close();
  });

  it("ends an expired run with expired_token, and no decision by Alice", async () => {
    await resetDemo();
    const view = new SequencePage(await context.newPage());
    await view.open(app.url);
    await crash();
    await view.message("ciba_ack").waitFor({ timeout: 20_000 });
    await view.ending("expired").waitFor({ timeout: (EXPIRY_SECONDS + 20) * 1000 });
    expect(await view.view().getByTestId("sequence-ending").innerText()).toBe("The request expired before Alice decided: no trade.");
    const kinds = await view.kinds();
    expect(kinds.slice(-2)).toEqual(["final_poll", "expired_token"]);
    expect(kinds).toContain("poll_pending");
    expect(kinds.filter((k) => k.startsWith("user_"))).toEqual([]);
    expect((await view.details("expired_token")).error).toBe("expired_token");
    await view.shot("sequence-expired.png");
    await view.page.close();
  });

  it("shows a past order picked from the selector", async () => {
    const view = new SequencePage(await context.newPage());
    await view.open(app.url);
    await view.ending("expired").waitFor();
    const select = view.view().getByTestId("sequence-order-select");
    expect(await select.locator("option").count()).toBe(4); // "Latest" and the three orders
    await select.selectOption(approvedOrderId);
    await view.page.locator(`[data-testid="sequence-body"][data-order-id="${approvedOrderId}"]`).waitFor();
    await view.ending("executed").waitFor();
    expect(await view.kinds()).toContain("trade_executed");
    await view.page.close();
  });
});
