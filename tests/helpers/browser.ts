import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { investorPasswordFor } from "./investor-session";

/** Debian's Chromium driven by playwright-core (no browser download). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const ARTIFACTS_DIR = path.resolve(__dirname, "..", "..", "test-results", "screenshots");

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
}

export function artifact(name: string): string {
  return path.join(ARTIFACTS_DIR, name);
}

/**
 * Opens `url` in the page as Alice: where the app sends her to sign in first (the embedded
 * identity server's login page), she types her password and comes back to `url`. The page's
 * browser context keeps the session for its other pages.
 */
export async function openSignedIn(page: Page, url: string, password = investorPasswordFor(new URL(url).origin)): Promise<void> {
  await page.goto(url);
  const form = page.getByTestId("login-form");
  if (await form.isVisible().catch(() => false)) {
    await page.getByTestId("sign-in-password").fill(password);
    await Promise.all([page.waitForURL((u) => u.pathname === new URL(url).pathname), page.getByTestId("sign-in-submit").click()]);
  }
}

/** Signs the page's browser context in at the app (its dashboard shows her side afterwards). */
export async function signInInBrowser(page: Page, appUrl: string, password?: string): Promise<void> {
  await page.goto(`${appUrl}/auth/sign-in`);
  await page.getByTestId("login-form").waitFor();
  await page.getByTestId("sign-in-password").fill(password ?? investorPasswordFor(appUrl));
  await Promise.all([page.waitForURL(`${appUrl}/`), page.getByTestId("sign-in-submit").click()]);
}
