import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser, signInInBrowser } from "../helpers/browser";

/**
 * The story in real Chromium: a fresh app, Alice signed in to her dashboard, Trigger Market
 * Crash, the agent's approval request on the dashboard, her mailbox, the identity server's
 * sign-in again (a dashboard session approves nothing) and approval page, and back on
 * the dashboard the trade, the new balance and holdings, and the OBO token's claims
 * (sub = Alice, act.sub = the agent). A screenshot of every step goes to test-results/screenshots.
 */
const PASSWORD = "alice-e2e-password-1";

class DashboardPage {
  constructor(readonly page: Page) {}
  async open(url: string) {
    await this.page.goto(url);
    await this.page.getByTestId("market-price").waitFor();
    await this.page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
    await this.page.locator('[data-testid="token-agent"][data-present="true"]').waitFor({ timeout: 30_000 });
  }
  approvalStatus = (status: string) => this.page.locator(`[data-testid="approval-status"][data-status="${status}"]`);
  text = (testId: string) => this.page.getByTestId(testId).first().innerText();
  claim = (token: "agent" | "obo", claim: string) => this.page.getByTestId(`token-${token}`).getByTestId(`claim-${claim}`).innerText();
  shot = (name: string) => this.page.screenshot({ path: artifact(name), fullPage: true });
}

class MailboxPage {
  constructor(readonly page: Page) {}
  async openNewestMail() {
    await this.page.getByTestId("mail-item").first().click();
    await this.page.getByTestId("mail-body").waitFor();
    await this.mail().getByTestId("mail-approve-link").waitFor();
  }
  mail = () => this.page.frameLocator('[data-testid="mail-body"]');
}

class ApprovalPage {
  constructor(readonly page: Page) {}
  async signIn(password: string) {
    await this.page.getByTestId("sign-in-password").fill(password);
    await this.page.getByTestId("sign-in-submit").click();
    await this.page.getByTestId("decision-form").waitFor();
  }
  async approve() {
    await this.page.getByTestId("approve-button").click();
    await this.page.locator('[data-testid="approval-result"][data-status="approved"]').waitFor();
  }
}

describe("agent flow in Chromium", () => {
  let app: AppServer;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    [app, browser] = await Promise.all([startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD }), launchBrowser()]);
    context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await app?.stop();
  });

  it("crash → pending approval → mailbox → sign in → approve → trade, balance, holdings and OBO claims on the dashboard", async () => {
    const dashboard = new DashboardPage(await context.newPage());
    await signInInBrowser(dashboard.page, app.url, PASSWORD);
    await dashboard.open(app.url);
    expect(await dashboard.text("agent-model")).toMatch(/rules/);
    expect(await dashboard.claim("agent", "sub")).toBe("aurelius");
    expect(await dashboard.text("portfolio-cash")).toBe("$10,000.00");
    await dashboard.page.getByTestId("approval-empty").waitFor();
    await dashboard.shot("agent-01-dashboard.png");

    await dashboard.page.getByTestId("crash-button").click();
    await dashboard.approvalStatus("pending").waitFor({ timeout: 45_000 });
    await dashboard.page.getByTestId("approval-countdown").waitFor();
    const bindingMessage = await dashboard.text("approval-binding-message");
    expect(bindingMessage).toMatch(/^BUY \d+ NVDA max \d+\.\d{2} USD #[0-9A-Z]{4}$/);
    expect(await dashboard.page.getByTestId("agent-state").getAttribute("data-state")).toBe("AWAITING_APPROVAL");
    await dashboard.shot("agent-02-pending-approval.png");

    const [inboxPage] = await Promise.all([context.waitForEvent("page"), dashboard.page.getByTestId("approval-inbox-link").click()]);
    const mailbox = new MailboxPage(inboxPage);
    await inboxPage.getByTestId("mail-item").first().waitFor();
    await inboxPage.screenshot({ path: artifact("agent-03-mailbox.png"), fullPage: true });
    await mailbox.openNewestMail();
    expect(await mailbox.mail().getByTestId("mail-binding-message").innerText()).toBe(bindingMessage);
    await inboxPage.screenshot({ path: artifact("agent-04-mail.png"), fullPage: true });

    await mailbox.mail().getByTestId("mail-approve-link").click();
    await inboxPage.getByTestId("sign-in-form").waitFor();
    await inboxPage.screenshot({ path: artifact("agent-05-sign-in.png"), fullPage: true });
    const approval = new ApprovalPage(inboxPage);
    await approval.signIn(PASSWORD);
    expect(await inboxPage.getByTestId("binding-message").innerText()).toBe(bindingMessage);
    await inboxPage.screenshot({ path: artifact("agent-06-review.png"), fullPage: true });
    await approval.approve();
    await inboxPage.screenshot({ path: artifact("agent-07-approved.png"), fullPage: true });

    await dashboard.page.bringToFront();
    await dashboard.approvalStatus("executed").waitFor({ timeout: 30_000 });
    await dashboard.page.getByTestId("trade-row").first().waitFor();
    expect(await dashboard.page.getByTestId("trade-row").count()).toBe(1);
    expect(await dashboard.text("trade-user")).toBe("Alice (alice)");
    expect(await dashboard.text("trade-actor")).toBe("aurelius");
    await dashboard.page.waitForFunction(() => document.querySelector('[data-testid="portfolio-cash"]')?.textContent !== "$10,000.00");
    const quantity = await dashboard.text("approval-quantity");
    expect(await dashboard.page.getByTestId("holding-NVDA").getByTestId("holding-quantity").innerText()).toBe(quantity);
    expect(await dashboard.claim("obo", "sub")).toBe("alice");
    expect(await dashboard.claim("obo", "act-sub")).toBe("aurelius");
    expect(await dashboard.claim("obo", "scope")).toContain("stock:trade");
    expect(await dashboard.claim("obo", "authorization_details")).toContain(`quantity: ${quantity}`);
    // Both tokens are bound to the agent's one DPoP key.
    const jkt = await dashboard.claim("obo", "cnf-jkt");
    expect(jkt).toMatch(/^[A-Za-z0-9_-]{43} \(DPoP-bound\)$/);
    expect(await dashboard.claim("agent", "cnf-jkt")).toBe(jkt);
    expect(await dashboard.page.getByTestId("agent-state").getAttribute("data-state")).toBe("DONE");
    await dashboard.page.locator('[data-testid="activity-entry"][data-kind="agent.trade"]').waitFor();
    // The dashboard never receives a token: no JWT anywhere in the page.
    expect(await dashboard.page.content()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
    await dashboard.shot("agent-08-trade-done.png");
  });
});
