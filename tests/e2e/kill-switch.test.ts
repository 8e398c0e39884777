import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser, signInInBrowser } from "../helpers/browser";
import { asInvestor } from "../helpers/investor-session";

/** The kill switch on the dashboard's agent panel, in real Chromium against the built app. */
class AgentPanelPage {
  constructor(readonly page: Page) {}
  panel = () => this.page.getByTestId("agent-panel");
  state = () => this.page.getByTestId("agent-state");
  async open(url: string) {
    // The agent panel is Alice's: sign in first (the sign-in lands on the dashboard).
    await signInInBrowser(this.page, url);
    await this.page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
    // The agent is up once it has read a price through MCP.
    await this.page.locator('[data-testid="agent-last-price"]', { hasText: "$" }).waitFor({ timeout: 30_000 });
  }
  async shot(name: string) {
    await this.panel().screenshot({ path: artifact(name) });
  }
}

describe("the kill switch in Chromium", () => {
  let app: AppServer;
  let browser: Browser;

  beforeAll(async () => {
    [app, browser] = await Promise.all([startApp({ MARKET_TICK_MS: "500" }), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it("Revoke asks first; Escape backs out and nothing changes", async () => {
    const ui = new AgentPanelPage(await browser.newPage({ viewport: { width: 1400, height: 1100 } }));
    await ui.open(app.url);
    await ui.shot("kill-switch-1-before.png");
    await ui.page.getByTestId("agent-revoke").focus();
    await ui.page.keyboard.press("Enter");
    const confirm = ui.page.getByTestId("agent-revoke-confirm");
    await confirm.waitFor();
    expect(await confirm.getAttribute("role")).toBe("alertdialog");
    // The confirm button has the focus: the keyboard user is one deliberate Enter away.
    expect(await ui.page.getByTestId("agent-revoke-yes").evaluate((el) => el === document.activeElement)).toBe(true);
    await ui.shot("kill-switch-2-confirm.png");
    await ui.page.keyboard.press("Escape");
    await confirm.waitFor({ state: "detached" });
    expect(await ui.page.getByTestId("agent-revoke").evaluate((el) => el === document.activeElement)).toBe(true);
    expect(((await (await asInvestor(app.url, "/api/agent")).json()) as { revocation: unknown }).revocation).toBeNull();
    await ui.page.close();
  });

  it("click Revoke, confirm: the agent is stopped and says why; Re-enable brings it back", async () => {
    const ui = new AgentPanelPage(await browser.newPage({ viewport: { width: 1400, height: 1100 } }));
    await ui.open(app.url);
    await ui.page.getByTestId("agent-revoke").click();
    await ui.page.getByTestId("agent-revoke-yes").click();
    await ui.page.getByTestId("agent-revoked").waitFor({ timeout: 10_000 });
    expect(await ui.state().innerText()).toBe("REVOKED");
    // The card may first show the revocation while its steps finish ("finishing…"), then the end.
    await expect
      .poll(() => ui.page.getByTestId("agent-revoked-reason").innerText(), { timeout: 15_000 })
      .toMatch(/^Since \d\d:\d\d:\d\d: revoked by Alice from the dashboard\. The broker refuses its tokens and its pending approvals were cancelled\.$/);
    expect(await ui.page.getByTestId("agent-pause").isDisabled()).toBe(true);
    // The activity log says it too.
    await ui.page.getByText(/Aurelius stopped: Alice revoked its access/).first().waitFor();
    await ui.shot("kill-switch-3-revoked.png");

    await ui.page.getByTestId("agent-reenable").click();
    await ui.page.getByTestId("agent-revoke").waitFor({ timeout: 15_000 });
    await ui.page.locator('[data-testid="agent-state"]:not([data-state="REVOKED"])').waitFor();
    await ui.page.getByText(/Aurelius re-enabled by Alice with fresh credentials/).first().waitFor();
    // The new agent reads prices with its new token (the panel's price is fetched on agent changes,
    // so the reload shows the latest).
    const deadline = Date.now() + 20_000;
    let agent: { running: boolean; lastPrice: unknown; tokens: { agent: unknown } } | undefined;
    while (Date.now() < deadline) {
      agent = (await (await asInvestor(app.url, "/api/agent")).json()) as typeof agent;
      if (agent!.running && agent!.lastPrice !== null && agent!.tokens.agent !== null) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(agent).toMatchObject({ running: true, lastPrice: expect.objectContaining({ priceCents: expect.any(Number) }) });
    await ui.page.reload();
    await ui.page.locator('[data-testid="agent-last-price"]', { hasText: "$" }).waitFor({ timeout: 10_000 });
    await ui.shot("kill-switch-4-reenabled.png");
    await ui.page.close();
  });
});
