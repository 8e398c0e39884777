import * as oidc from "openid-client";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser, openSignedIn } from "../helpers/browser";
import { ACCESS_TOKEN_TYPE, agentToken, cibaParams, clientFor, idpEnv, oauthError, order, PASSWORD, pollOnce } from "../integration/idp-support";

/**
 * Alice's side of CIBA in real Chromium: the mail arrives in /inbox (live), she follows its link
 * to the embedded server's approval page, signs in, reads the order and decides.
 */
class MailboxPage {
  constructor(readonly page: Page) {}
  items = () => this.page.getByTestId("mail-item");
  async open(url: string) {
    // The mailbox is Alice's: the first visit signs her in and comes back.
    await openSignedIn(this.page, `${url}/inbox`);
    await this.page.getByTestId("mailbox").waitFor();
  }
  itemFor(orderHeadline: string) {
    return this.items().filter({ hasText: orderHeadline });
  }
  mailBody() {
    return this.page.frameLocator('[data-testid="mail-body"]');
  }
}

class ApprovalPage {
  constructor(readonly page: Page) {}
  async signIn(password: string) {
    await this.page.getByTestId("sign-in-form").waitFor();
    await this.page.getByTestId("sign-in-password").fill(password);
    await this.page.keyboard.press("Enter");
    await this.page.getByTestId("decision-form").waitFor();
  }
  text = (testId: string) => this.page.getByTestId(testId).innerText();
  result = () => this.page.getByTestId("approval-result");
}

describe("approving from the embedded mailbox in Chromium", () => {
  let app: AppServer;
  let browser: Browser;
  let agent: oidc.Configuration;

  beforeAll(async () => {
    [app, browser] = await Promise.all([startApp(idpEnv()), launchBrowser()]);
    agent = await clientFor(app);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it("shows the mail live, follows Approve, signs in, approves, and the agent gets its token", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const mailbox = new MailboxPage(page);
    await mailbox.open(app.url);
    const before = await mailbox.items().count();

    const detail = order({ quantity: 38, limit_price: "131.20", max_notional: "5000.00" });
    const ack = await oidc.initiateBackchannelAuthentication(agent, {
      ...cibaParams(detail),
      actor_token: await agentToken(agent),
      actor_token_type: ACCESS_TOKEN_TYPE,
    });

    // The list updates without a reload (the `mail` event on /api/events).
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="mail-item"]').length > n, before, { timeout: 10_000 });
    const item = mailbox.itemFor("Buy 38 NVDA").first();
    expect(await item.getAttribute("data-unread")).toBe("true");
    await page.screenshot({ path: artifact("idp-inbox.png") });

    await item.click();
    await page.getByTestId("open-mail-subject").waitFor();
    expect(await page.getByTestId("open-mail-subject").innerText()).toBe("Aurelius asks you to approve: Buy 38 NVDA");
    expect(await mailbox.mailBody().getByTestId("mail-binding-message").innerText()).toBe("BUY 38 NVDA max 131.20 USD #K7Q2");
    expect(await mailbox.itemFor("Buy 38 NVDA").first().getAttribute("data-unread")).toBe("false");
    await page.screenshot({ path: artifact("idp-mail.png") });

    await mailbox.mailBody().getByTestId("mail-approve-link").click();
    await page.waitForURL(/\/oidc\/approve\/apr_/);
    const approval = new ApprovalPage(page);
    await page.getByTestId("sign-in-form").waitFor();
    expect(await approval.text("binding-message")).toBe("BUY 38 NVDA max 131.20 USD #K7Q2");
    await page.screenshot({ path: artifact("idp-sign-in.png") });

    await approval.signIn(PASSWORD);
    expect(await approval.text("agent-name")).toBe("Aurelius");
    expect(await approval.text("order-side")).toBe("BUY");
    expect(await approval.text("order-quantity")).toBe("38 shares");
    expect(await approval.text("order-symbol")).toBe("NVDA");
    expect(await approval.text("order-limit-price")).toBe("131.20 USD per share");
    expect(await approval.text("order-max-notional")).toBe("5,000.00 USD");
    expect(await approval.text("order-id")).toBe(detail.order_id);
    const first = await page.locator("[data-countdown-value]").innerText();
    expect(first).toMatch(/^[0-2]:[0-5]\d$/);
    await page.waitForFunction((t) => document.querySelector("[data-countdown-value]")!.textContent !== t, first, { timeout: 3000 });
    // Approve is preselected (focused) when coming from the Approve link.
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-testid"))).toBe("approve-button");
    expect((await pollOnce(app, ack.auth_req_id)).body.error).toBe("authorization_pending");
    await page.screenshot({ path: artifact("idp-approve.png"), fullPage: true });

    await page.getByTestId("approve-button").click();
    await approval.result().waitFor();
    expect(await approval.result().getAttribute("data-status")).toBe("approved");
    await page.screenshot({ path: artifact("idp-approved.png"), fullPage: true });

    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, ack);
    expect(tokens.authorization_details).toEqual([detail]);
    await page.close();
  });

  it("denies with the keyboard from the Deny link on a phone-sized screen", async () => {
    const detail = order({ side: "sell", quantity: 12 });
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(detail));
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const mailbox = new MailboxPage(page);
    await mailbox.open(app.url);
    await mailbox.itemFor("Sell 12 NVDA").first().click();
    await page.getByTestId("open-mail-subject").waitFor();
    await page.screenshot({ path: artifact("idp-mail-mobile.png") });
    await mailbox.mailBody().getByTestId("mail-deny-link").click();
    await page.waitForURL(/decision=deny/);

    const approval = new ApprovalPage(page);
    await approval.signIn(PASSWORD);
    await page.getByTestId("deny-preselected").waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-testid"))).toBe("deny-button");
    await page.screenshot({ path: artifact("idp-deny-mobile.png"), fullPage: true });
    // Nothing is decided until the POST.
    expect((await pollOnce(app, ack.auth_req_id)).body.error).toBe("authorization_pending");
    await page.keyboard.press("Enter");
    await approval.result().waitFor();
    expect(await approval.result().getAttribute("data-status")).toBe("denied");
    await page.screenshot({ path: artifact("idp-denied-mobile.png"), fullPage: true });
    expect((await oauthError(oidc.pollBackchannelAuthenticationGrant(agent, ack))).error).toBe("access_denied");
    await page.close();
  });
});
