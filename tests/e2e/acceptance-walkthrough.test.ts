import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenResult } from "@/lib/auth/profiles/types";
import { agentOf, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser } from "../helpers/browser";
import { AGENT_SECRET, agentProfile, readPrice } from "../attack/kill-switch-support";

/**
 * The acceptance walkthrough of Alice holding the reins, in real Chromium against the built app,
 * in the order a person follows it: she signs in, changes the agent's mandate, pauses and resumes
 * it, grants a standing mandate and approves it from her mailbox, watches a small trade land
 * without an approval mail and a larger one ask for approval, revokes the mandate, and pulls the
 * kill switch, after which /mcp refuses a token of the agent's (one the test obtained with the
 * agent's client credentials, as an attacker who stole them would).
 */
const PASSWORD = "alice-test-password-walkthrough";
const BUDGET = 1500;

class Dashboard {
  constructor(readonly page: Page) {}
  byId = (id: string) => this.page.getByTestId(id);
  state = (state: string) => this.page.locator(`[data-testid="agent-state"][data-state="${state}"]`);
  mandate = (status: string) => this.page.locator(`[data-testid="standing-mandate-current"][data-status="${status}"]`);
  shot = (name: string) => this.page.screenshot({ path: artifact(name), fullPage: true });
}

describe("the acceptance walkthrough in Chromium", () => {
  let app: AppServer;
  let browser: Browser;
  let context: BrowserContext;
  let alice: Alice;

  beforeAll(async () => {
    [app, browser] = await Promise.all([
      startApp({ PRICE_THRESHOLD: "140.00", INVESTOR_PASSWORD: PASSWORD, AGENT_CLIENT_SECRET: AGENT_SECRET, AGENT_COOLDOWN_SECONDS: "60" }),
      launchBrowser(),
    ]);
    context = await browser.newContext({ viewport: { width: 1440, height: 1100 } });
    alice = new Alice(app.url, "alice@example.com", PASSWORD);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await app?.stop();
  });

  it("sign in, change the mandate, pause, resume, grant a standing mandate, a small trade without a mail, a large one asks, revoke it, kill switch", async () => {
    const ui = new Dashboard(await context.newPage());

    // 1. Sign in from the dashboard's own link.
    await ui.page.goto(app.url);
    await ui.byId("sign-in-card-link").click();
    await ui.byId("login-form").waitFor();
    await ui.byId("sign-in-password").fill(PASSWORD);
    await Promise.all([ui.page.waitForURL(`${app.url}/`), ui.byId("sign-in-submit").click()]);
    await ui.byId("session").waitFor();
    await ui.page.locator('[data-testid="agent-last-price"]', { hasText: "$" }).waitFor({ timeout: 30_000 });
    await ui.shot("walkthrough-01-signed-in.png");

    // 2. Change the mandate: a threshold just under the opening price, a smaller budget.
    await ui.byId("mandate-threshold").fill("148.00");
    await ui.byId("mandate-budget").fill(BUDGET.toFixed(2));
    await ui.byId("mandate-save").click();
    await ui.byId("mandate-saved").waitFor();
    await ui.page.locator('[data-testid="threshold"]', { hasText: "$148.00" }).waitFor();
    expect((await agentOf(app.url)).mandate).toMatchObject({ thresholdCents: 14_800, budgetCents: BUDGET * 100 });
    await ui.byId("agent-panel").screenshot({ path: artifact("walkthrough-02-mandate-changed.png") });

    // 3. Pause, then resume.
    await ui.byId("agent-pause").click();
    await ui.byId("agent-resume").waitFor();
    expect((await agentOf(app.url)).paused).toBe(true);
    await ui.byId("agent-panel").screenshot({ path: artifact("walkthrough-03-paused.png") });
    await ui.byId("agent-resume").click();
    await ui.byId("agent-pause").waitFor();
    expect((await agentOf(app.url)).paused).toBe(false);

    // 4. Grant a standing mandate: one order a trade, one and a half a day.
    await ui.byId("standing-mandate-per-trade").fill(BUDGET.toFixed(2));
    await ui.byId("standing-mandate-per-day").fill((BUDGET * 1.5).toFixed(2));
    await ui.byId("standing-mandate-grant").click();
    await ui.mandate("requested").waitFor();
    await ui.byId("standing-mandate").screenshot({ path: artifact("walkthrough-04-mandate-requested.png") });

    // ...and approve it from the mailbox, on the authorization server's page that shows the limits.
    const [inbox] = await Promise.all([context.waitForEvent("page"), ui.byId("mailbox-link").click()]);
    await inbox.getByTestId("mail-item").first().click();
    const mail = inbox.frameLocator('[data-testid="mail-body"]');
    await mail.getByTestId("mail-approve-link").waitFor();
    expect(await mail.getByTestId("mail-binding-message").innerText()).toBe(`MANDATE NVDA ${BUDGET.toFixed(2)} per trade ${(BUDGET * 1.5).toFixed(2)} per day`);
    await inbox.screenshot({ path: artifact("walkthrough-05-mandate-mail.png"), fullPage: true });
    await mail.getByTestId("mail-approve-link").click();
    await inbox.getByTestId("sign-in-password").fill(PASSWORD);
    await inbox.getByTestId("sign-in-submit").click();
    await inbox.getByTestId("decision-form").waitFor();
    expect(await inbox.getByTestId("mandate-max-per-trade").innerText()).toBe("1,500.00 USD");
    expect(await inbox.getByTestId("mandate-max-per-day").innerText()).toBe("2,250.00 USD");
    await inbox.screenshot({ path: artifact("walkthrough-06-mandate-consent.png"), fullPage: true });
    await inbox.getByTestId("approve-button").click();
    await inbox.locator('[data-testid="approval-result"][data-status="approved"]').waitFor();
    await inbox.close();
    await ui.page.bringToFront();
    await ui.mandate("granted").waitFor({ timeout: 20_000 });
    const mailsBefore = (await alice.inbox()).length;
    await ui.byId("standing-mandate").screenshot({ path: artifact("walkthrough-07-mandate-granted.png") });

    // 5. A small trade lands under the mandate, without an approval mail.
    await ui.byId("crash-button").click();
    await ui.byId("trade-row").first().waitFor({ timeout: 60_000 });
    await waitUntil(() => agentOf(app.url), (a) => a.state === "DONE", 20_000, "DONE");
    expect((await alice.inbox()).length).toBe(mailsBefore);
    await ui.page.locator('[data-testid="activity-entry"][data-kind="agent.trade"]', { hasText: "standing mandate" }).first().waitFor();
    await ui.page.locator('[data-testid="standing-mandate-spent"]:not(:text("0.00 USD"))').waitFor();
    await ui.shot("walkthrough-08-small-trade.png");

    // 6. A new fall: the next order would pass the day's amount, so Alice is asked for it.
    await ui.byId("reset-button").click();
    await ui.byId("reset-confirm").click();
    await ui.page.locator('[data-testid="market-status"]', { hasText: "STABLE" }).waitFor();
    await waitUntil(() => agentOf(app.url), (a) => a.state === "MONITORING" && a.order === null && a.armed, 10_000, "MONITORING");
    await ui.byId("crash-button").click();
    await ui.page.locator('[data-testid="approval-status"][data-status="pending"]').waitFor({ timeout: 60_000 });
    await waitUntil(() => alice.inbox(), (m) => m.length === mailsBefore + 1, 10_000, "the approval mail");
    expect(await ui.byId("trade-row").count()).toBe(0);
    await ui.shot("walkthrough-09-large-asks.png");

    // 7. Revoke the standing mandate.
    await ui.byId("standing-mandate-revoke").click();
    await ui.byId("standing-mandate-form").waitFor();
    await ui.byId("standing-mandate").screenshot({ path: artifact("walkthrough-10-mandate-revoked.png") });

    // 8. The kill switch: a token of the agent's reads the price at /mcp before, and is refused after.
    const stolen: TokenResult = await agentProfile(app).getAgentToken();
    expect(await readPrice(app, stolen)).toMatchObject({ status: 200 });
    await ui.byId("agent-revoke").click();
    await ui.byId("agent-revoke-yes").click();
    await ui.byId("agent-revoked").waitFor({ timeout: 10_000 });
    const refused = await readPrice(app, stolen);
    expect(refused.status).toBe(401);
    expect(refused.challenge).toContain('error="invalid_token"');
    // The approval it was waiting for is cancelled with it.
    await waitUntil(() => agentOf(app.url), (a) => a.approval?.status !== "pending", 10_000, "the pending approval cancelled");
    expect(await ui.byId("approval-outcome").innerText()).toBe("Cancelled. Nothing was bought.\ncancelled: Aurelius's access was revoked");
    await ui.page.getByText(/Aurelius stopped: Alice revoked its access/).first().waitFor();
    await ui.shot("walkthrough-11-kill-switch.png");
  }, 300_000);
});
