import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser, signInInBrowser } from "../helpers/browser";

/**
 * Standing delegation in real Chromium against the built app: Alice grants a mandate on the
 * dashboard and approves it on the authorization server's approval page, which shows the limits;
 * a small trade then lands without an approval mail, one past the day's amount asks for approval
 * of the exact order, and she revokes the mandate.
 */
const PASSWORD = "alice-test-password-e2e-mandate";

class MandateCard {
  constructor(readonly page: Page) {}
  card = () => this.page.getByTestId("standing-mandate");
  current = (status: string) => this.page.locator(`[data-testid="standing-mandate-current"][data-status="${status}"]`);
  shot = (name: string) => this.card().screenshot({ path: artifact(name) });
}

describe("standing mandate in Chromium", () => {
  let app: AppServer;
  let browser: Browser;
  let context: BrowserContext;
  let alice: Alice;
  const seen: string[] = [];

  beforeAll(async () => {
    [app, browser] = await Promise.all([startApp({ PRICE_THRESHOLD: "148.00", INVESTOR_PASSWORD: PASSWORD, AGENT_COOLDOWN_SECONDS: "60" }), launchBrowser()]);
    context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
    alice = new Alice(app.url, "alice@example.com", PASSWORD);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await app?.stop();
  });

  it("grant on the consent screen, a small trade without a mail, a large one asks, revoke", async () => {
    const page = await context.newPage();
    await signInInBrowser(page, app.url, PASSWORD);
    await page.locator('[data-testid="token-agent"][data-present="true"]').waitFor({ timeout: 30_000 });
    const budget = (await agentOf(app.url)).mandate.budgetCents;
    const ui = new MandateCard(page);
    await ui.card().waitFor();
    await page.getByTestId("standing-mandate-per-trade").fill((budget / 100).toFixed(2));
    await page.getByTestId("standing-mandate-per-day").fill(((budget * 1.5) / 100).toFixed(2));
    await ui.shot("mandate-1-form.png");
    await page.getByTestId("standing-mandate-grant").click();
    await ui.current("requested").waitFor();

    // The consent screen: the authorization server's approval page, with the limits.
    const mail = await alice.waitForApprovalMail(seen, 20_000);
    seen.push(mail.id);
    const consent = await context.newPage();
    await consent.goto(mail.approve);
    await consent.getByTestId("sign-in-password").fill(PASSWORD);
    await consent.getByTestId("sign-in-submit").click();
    await consent.getByTestId("decision-form").waitFor();
    expect(await consent.getByTestId("mandate-max-per-trade").innerText()).toBe(`${(budget / 100).toLocaleString("en-US", { minimumFractionDigits: 2 })} USD`);
    expect(await consent.getByTestId("mandate-symbol").innerText()).toBe("NVDA");
    await consent.screenshot({ path: artifact("mandate-2-consent.png"), fullPage: true });
    await consent.getByTestId("approve-button").click();
    await consent.locator('[data-testid="approval-result"][data-status="approved"]').waitFor();
    await consent.close();
    await ui.current("granted").waitFor({ timeout: 20_000 });
    await ui.shot("mandate-3-granted.png");

    // A small trade lands under the mandate, without an approval mail.
    await page.getByTestId("crash-button").click();
    await page.getByTestId("trade-row").first().waitFor({ timeout: 60_000 });
    await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 20_000, "DONE");
    expect((await alice.inbox()).filter((m) => !seen.includes(m.id))).toEqual([]);
    await page.locator('[data-testid="standing-mandate-spent"]:not(:text("0.00 USD"))').waitFor();
    await page.screenshot({ path: artifact("mandate-4-small-trade.png"), fullPage: true });

    // The next order would pass the day's amount: Alice is asked for it.
    expect((await press(app.url, "/api/market/reset")).status).toBe(200);
    await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null, 10_000, "MONITORING");
    await page.getByTestId("crash-button").click();
    await page.locator('[data-testid="approval-status"][data-status="pending"]').waitFor({ timeout: 60_000 });
    await alice.waitForApprovalMail(seen, 10_000);
    await page.screenshot({ path: artifact("mandate-5-large-asks.png"), fullPage: true });

    await page.getByTestId("standing-mandate-revoke").click();
    await page.getByTestId("standing-mandate-form").waitFor();
    await ui.shot("mandate-6-revoked.png");
  }, 240_000);
});
