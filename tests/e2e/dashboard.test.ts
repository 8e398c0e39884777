import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { investorPasswordFor } from "../helpers/investor-session";
import { artifact, launchBrowser, signInInBrowser } from "../helpers/browser";

/** The dashboard in real Chromium against the built app. */
class DashboardPage {
  constructor(readonly page: Page) {}
  price = () => this.page.getByTestId("market-price").innerText();
  status = () => this.page.getByTestId("market-status").innerText();
  chartPoints = async () => Number(await this.page.getByTestId("price-chart").getAttribute("data-points"));
  async open(url: string) {
    await this.page.goto(url);
    await this.page.getByTestId("market-price").waitFor();
    await this.page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
  }
}

describe("dashboard in Chromium", () => {
  let app: AppServer;
  let browser: Browser;

  beforeAll(async () => {
    [app, browser] = await Promise.all([startApp(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it("shows a stranger the market and its simulator only; Alice signs in, sees her side, and signs out again", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await new DashboardPage(page).open(app.url);
    await page.getByTestId("sign-in-card").waitFor();
    expect(await page.getByTestId("crash-button").isEnabled()).toBe(true);
    expect(await page.getByTestId("reset-button").isDisabled()).toBe(true);
    expect(await page.getByTestId("threshold-hidden").isVisible()).toBe(true);
    for (const hidden of ["portfolio-card", "agent-panel", "token-inspector-slot", "approval-slot", "assurance-panel", "activity-log"]) {
      expect(await page.getByTestId(hidden).count(), hidden).toBe(0);
    }
    await page.screenshot({ path: artifact("dashboard-signed-out.png"), fullPage: true });

    // Sign in from the card (Tab to it, Enter), on the embedded server's login page.
    await page.getByTestId("sign-in-card-link").focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("login-form").waitFor();
    expect(await page.getByTestId("login-return-origin").innerText()).toBe(new URL(app.url).origin);
    await page.screenshot({ path: artifact("login-page.png"), fullPage: true });
    await page.getByTestId("sign-in-password").fill("not her password");
    await page.getByTestId("sign-in-submit").click();
    expect(await page.getByTestId("sign-in-error").innerText()).toBe("Wrong email or password.");
    await page.getByTestId("sign-in-password").fill(investorPasswordFor(app.url));
    await Promise.all([page.waitForURL(`${app.url}/`), page.getByTestId("sign-in-submit").click()]);
    await page.getByTestId("portfolio-card").waitFor();
    await page.getByTestId("session").waitFor();
    expect(await page.getByTestId("threshold").innerText()).toBe("$140.00");
    expect(await page.getByTestId("reset-button").isEnabled()).toBe(true);
    await page.screenshot({ path: artifact("dashboard-signed-in.png"), fullPage: true });

    await Promise.all([page.waitForURL(`${app.url}/`), page.getByTestId("sign-out-button").click()]);
    await page.getByTestId("sign-in-card").waitFor();
    expect(await page.getByTestId("portfolio-card").count()).toBe(0);
    // The session is gone on the server: the cookie it had no longer reads her state.
    expect(await page.evaluate(async () => (await (await fetch("/api/agent")).json()).error)).toBe("login_required");
    await page.close();
  });

  it("shows the assurance in force for the embedded default: the order in the token, no recorded approval needed, DPoP-bound", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await signInInBrowser(page, app.url);
    await new DashboardPage(page).open(app.url);
    const item = (id: string) => page.locator(`[data-testid="assurance-item"][data-id="${id}"]`);
    // The DPoP state settles once the agent holds its first token (an agent event refetches it).
    await page.locator('[data-testid="assurance-item"][data-id="dpop"][data-state="holds"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("assurance-panel").getAttribute("data-provider")).toBe("embedded");
    expect(await item("order-in-token").getAttribute("data-state")).toBe("holds");
    expect(await item("order-in-token").getByTestId("assurance-state").innerText()).toBe("Holds");
    expect(await item("order-in-token").getByTestId("assurance-summary").innerText()).toBe("The approved order travels in the token and the broker checks every trade against it.");
    expect(await item("recorded-approval").getAttribute("data-state")).toBe("not-in-force");
    expect(await item("recorded-approval").getByTestId("assurance-state").innerText()).toBe("Not needed");
    expect(await item("dpop").getByTestId("assurance-summary").innerText()).toMatch(/bound to the agent's key: a stolen copy is useless/);

    // The facts behind a line fold out from the keyboard.
    const basis = item("order-in-token").getByTestId("assurance-basis");
    expect(await basis.isVisible()).toBe(false);
    const why = item("order-in-token").locator("summary");
    await why.focus();
    expect(await why.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press("Enter");
    await basis.waitFor({ state: "visible" });
    expect(await basis.innerText()).toContain("The server advertises stock_trade (authorization_details_types_supported).");
    await page.screenshot({ path: artifact("dashboard-assurance.png"), fullPage: true });
    await page.close();
  });

  it("shows the price falling within 2 s of clicking Trigger Market Crash, without a reload", async () => {
    const dashboard = new DashboardPage(await browser.newPage({ viewport: { width: 1400, height: 1000 } }));
    await dashboard.open(app.url);
    expect(await dashboard.status()).toBe("STABLE");
    const before = Number((await dashboard.price()).replace(/[$,]/g, ""));
    await dashboard.page.getByTestId("crash-button").click();
    await dashboard.page.locator('[data-testid="market-status"]', { hasText: "CRASHING" }).waitFor({ timeout: 2000 });
    await dashboard.page.waitForFunction(
      (start) => Number(document.querySelector('[data-testid="market-price"]')!.textContent!.replace(/[$,]/g, "")) < start,
      before,
      { timeout: 2000 },
    );
    await dashboard.page.screenshot({ path: artifact("dashboard-crash.png"), fullPage: true });
    await dashboard.page.close();
  });

  it("keeps the chart's history after a reload", async () => {
    const dashboard = new DashboardPage(await browser.newPage());
    await dashboard.open(app.url);
    await dashboard.page.waitForFunction(() => Number(document.querySelector('[data-testid="price-chart"]')!.getAttribute("data-points")) >= 5);
    const before = await dashboard.chartPoints();
    await dashboard.page.reload();
    await dashboard.page.getByTestId("market-price").waitFor();
    expect(await dashboard.chartPoints()).toBeGreaterThanOrEqual(before);
    // The chart library loads in the browser after the page: wait for it to draw.
    await dashboard.page.locator("canvas").first().waitFor({ state: "visible", timeout: 10_000 });
    await dashboard.page.close();
  });

  it("works on a phone-width screen and resets through the keyboard", async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const dashboard = new DashboardPage(page);
    await signInInBrowser(page, app.url);
    await dashboard.open(app.url);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await page.getByTestId("reset-button").focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("reset-confirm").waitFor();
    await page.keyboard.press("Enter");
    await page.locator('[data-testid="market-status"]', { hasText: "STABLE" }).waitFor();
    await page.locator('[data-testid="activity-entry"][data-kind="demo.reset"]').waitFor();
    await page.screenshot({ path: artifact("dashboard-phone.png"), fullPage: true });
    await page.close();
  });
});
