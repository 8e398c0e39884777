import { createHash, randomBytes } from "node:crypto";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { artifact, launchBrowser } from "../helpers/browser";
import { investorPasswordFor, TEST_INVESTOR_EMAIL } from "../helpers/investor-session";
import http from "node:http";
import { MCP_ACCEPT } from "../helpers/app-server";
import { authorizeAsAlice } from "../helpers/mcp-oauth-client";
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

/** Registers a public client of the code flow (as an MCP host does) and returns its client id. */
async function registerClient(name: string): Promise<string> {
  const reg = await fetch(`${app.url}/oidc/reg`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: name, redirect_uris: [CLIENT_REDIRECT], grant_types: ["authorization_code", "refresh_token"], token_endpoint_auth_method: "none" }),
  });
  expect(reg.status).toBe(201);
  return ((await reg.json()) as { client_id: string }).client_id;
}

/** The client's authorization request for reading the MCP resource, with its own PKCE verifier. */
function authorizeUrl(clientId: string, state: string, extra: Record<string, string> = {}): { url: string; verifier: string } {
  const verifier = randomBytes(32).toString("base64url");
  const params = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    redirect_uri: CLIENT_REDIRECT,
    scope: "stock:read",
    resource: `${app.url}/mcp`,
    state,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...extra,
  });
  return { url: `${app.url}/oidc/auth?${params}`, verifier };
}

describe("an MCP host asks Alice for access", () => {
  it("shows the consent screen and returns a code to the host after Allow", async () => {
    const clientId = await registerClient("Claude Code (test)");
    const { url } = authorizeUrl(clientId, "e2e");
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await page.goto(url);
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

  it("approves one order the resource server named to it: the exact order in words, Approve, a token that trades once", async () => {
    const clientId = await registerClient("Trading host (test)");
    const redeem = async (code: string, verifier: string) => {
      const res = await fetch(`${app.url}/oidc/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, redirect_uri: CLIENT_REDIRECT, code_verifier: verifier, resource: `${app.url}/mcp` }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const mcp = (token: string, args: Record<string, unknown>) =>
      fetch(`${app.url}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "buy_stock", arguments: args } }),
      });

    // Signed in for reading (over HTTP), the host is challenged for an order.
    const read = authorizeUrl(clientId, "e2e-order");
    const readRun = await authorizeAsAlice(app.url, read.url);
    const readToken = await redeem(readRun.callback.searchParams.get("code")!, read.verifier);
    const challenge = await mcp(readToken, { symbol: "NVDA", quantity: 2, limit_price: "100000.00" });
    expect(challenge.status).toBe(403);
    const remediation = /authorization_remediation="([^"]+)"/.exec(challenge.headers.get("www-authenticate") ?? "")![1]!;
    const details = (JSON.parse(Buffer.from(remediation, "base64url").toString("utf8")) as { authorization_details: Array<{ order_id: string }> }).authorization_details;

    // Alice, in Chromium, reads the exact order and approves it.
    const approve = authorizeUrl(clientId, "e2e-order", { authorization_details: JSON.stringify(details) });
    const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
    await page.goto(approve.url);
    await page.getByTestId("sign-in-username").fill(TEST_INVESTOR_EMAIL);
    await page.getByTestId("sign-in-password").fill(investorPasswordFor(app.url));
    await page.getByTestId("sign-in-submit").click();
    await page.getByTestId("consent-order").waitFor();
    await expect(page.getByTestId("consent-order-headline").textContent()).resolves.toBe("Buy 2 NVDA");
    await expect(page.getByTestId("consent-order-side").textContent()).resolves.toBe("BUY");
    await expect(page.getByTestId("consent-order-quantity").textContent()).resolves.toBe("2 shares");
    await expect(page.getByTestId("consent-order-symbol").textContent()).resolves.toBe("NVDA");
    await expect(page.getByTestId("consent-order-limit-price").textContent()).resolves.toBe("100,000.00 USD per share");
    await expect(page.getByTestId("consent-order-max-notional").textContent()).resolves.toBe("200,000.00 USD");
    await expect(page.getByTestId("consent-order-id").textContent()).resolves.toBe(details[0]!.order_id);
    await expect(page.getByTestId("consent-order-expires-at").textContent()).resolves.toMatch(/\d/);
    await expect(page.getByTestId("consent-allow").textContent()).resolves.toBe("Approve: buy 2 NVDA");
    await page.screenshot({ path: artifact("mcp-consent-order.png"), fullPage: true });
    landed = undefined;
    await Promise.all([page.waitForURL(`${new URL(CLIENT_REDIRECT).origin}/**`), page.getByTestId("consent-allow").click()]);
    const back = landed as URL | undefined;
    expect(back?.searchParams.get("state")).toBe("e2e-order");
    await page.close();

    const tradeToken = await redeem(back!.searchParams.get("code")!, approve.verifier);
    const args = { symbol: "NVDA", quantity: 2, order_id: details[0]!.order_id };
    const traded = (await (await mcp(tradeToken, args)).json()) as { result: { isError?: boolean; structuredContent?: { status: string } } };
    expect(traded.result.structuredContent?.status).toBe("executed");
    const replay = (await (await mcp(tradeToken, args)).json()) as { result: { isError?: boolean; content: { text: string }[] } };
    expect(replay.result.content[0]!.text).toMatch(/^Refused \(already_executed\)/);
  });
});
