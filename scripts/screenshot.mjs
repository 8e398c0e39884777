#!/usr/bin/env node
// Takes a screenshot of a page with Debian's Chromium: `node scripts/screenshot.mjs URL OUT.png [width] [height] [clickTestId] [waitMs]`.
// A development aid for looking at what the app shows; not part of the test suite.
import { chromium } from "playwright-core";

const [url, out, width = "1400", height = "1000", click, wait = "1500"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
await page.goto(url, { waitUntil: "networkidle" }).catch(() => undefined);
if (click) await page.getByTestId(click).click();
await page.waitForTimeout(Number(wait));
await page.screenshot({ path: out, fullPage: true });
await browser.close();
console.log(out);
