import { createHash, randomBytes } from "node:crypto";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser } from "../helpers/browser";
import { investorPasswordFor, TEST_INVESTOR_EMAIL } from "../helpers/investor-session";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The consent screen in real Chromium: an MCP host registers itself, Alice opens its
 * authorization URL, signs in, reads what it asks for (its unverified name, its id, where she
 * returns, the scope and the resource) and allows reading; the browser lands on the host's
 * loopback redirect with a code, at a listener the test runs on a free loopback port.
 */
let app: AppServer;
let browser: Browser;
let host: http.Server;
let CLIENT_REDIRECT: string;
let landed: URL | undefined;

beforeAll(async () => {
  [app, browser] = await Promise.all([startApp({ AGENT_ENABLED: "false" }), launchBrowser()]);
  host = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", CLIENT_REDIRECT);
    if (url.pathname === "/callback") landed = url;
    res.writeHead(200, { "content-type": "text/plain" }).end("host received the answer");
  });
  await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
  CLIENT_REDIRECT = `http://127.0.0.1:${(host.address() as AddressInfo).port}/callback`;
});
afterAll(async () => {
  host?.close();
  await browser?.close();
  await app?.stop();
});

describe("an MCP host asks Alice for access", () => {
  it("shows the consent screen and returns a code to the host after Allow", async () => {
    const reg = await fetch(`${app.url}/oidc/reg`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: "Claude Code (test)", redirect_uris: [CLIENT_REDIRECT], grant_types: ["authorization_code", "refresh_token"], token_endpoint_auth_method: "none" }),
    });
    expect(reg.status).toBe(201);
    const { client_id: clientId } = (await reg.json()) as { client_id: string };
    const verifier = randomBytes(32).toString("base64url");
    const params = new URLSearchParams({
      client_id: clientId,
      response_type: "code",
      redirect_uri: CLIENT_REDIRECT,
      scope: "stock:read",
      resource: `${app.url}/mcp`,
      state: "e2e",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    });

    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await page.goto(`${app.url}/oidc/auth?${params}`);
    await expect(page.getByTestId("login-headline").textContent()).resolves.toContain("“Claude Code (test)” asks for access");
    await page.getByTestId("sign-in-username").fill(TEST_INVESTOR_EMAIL);
    await page.getByTestId("sign-in-password").fill(investorPasswordFor(app.url));
    await page.getByTestId("sign-in-submit").click();

    await page.getByTestId("consent-form").waitFor();
    await expect(page.getByTestId("consent-headline").textContent()).resolves.toBe("“Claude Code (test)” wants to use your account");
    await expect(page.getByTestId("consent-client-id").textContent()).resolves.toBe(clientId);
    await expect(page.getByTestId("consent-return-origin").textContent()).resolves.toBe(new URL(CLIENT_REDIRECT).origin);
    await expect(page.getByTestId("consent-resource").textContent()).resolves.toBe(`${app.url}/mcp`);
    await expect(page.getByTestId("consent-scope").allTextContents()).resolves.toEqual([
      `Read market prices, your portfolio and your trade history stock:read at ${app.url}/mcp`,
    ]);
    await expect(page.getByTestId("consent-refused").count()).resolves.toBe(0);
    await page.screenshot({ path: artifact("mcp-consent.png"), fullPage: true });

    await Promise.all([page.waitForURL(`${new URL(CLIENT_REDIRECT).origin}/**`), page.getByTestId("consent-allow").click()]);
    expect(landed?.searchParams.get("code")).toMatch(/^[\w-]{20,}$/);
    expect(landed?.searchParams.get("state")).toBe("e2e");
    await page.close();
  });
});
