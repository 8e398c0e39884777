import { afterAll, beforeAll, expect, it } from "vitest";
import { agentOf, dashboardOf, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { trustInBrowser } from "../helpers/investor-session";
import { createSelfSignedCertificate } from "../fakes/self-signed";
import { startWso2Fake, type Wso2Fake } from "../fakes/wso2-fake";
import { wso2EnvFor } from "../helpers/wso2-env";

/**
 * The built app against a WSO2 server with a self-signed certificate (like https://localhost:9443),
 * trusted through WSO2_CA_FILE, TLS verification on: the agent signs in over TLS, and the MCP
 * server fetches the signing keys over TLS to accept the agent's token when it reads the price.
 */
let fake: Wso2Fake;
let app: AppServer;

beforeAll(async () => {
  const tls = createSelfSignedCertificate();
  fake = await startWso2Fake({ tls: { key: tls.key, cert: tls.cert } });
  app = await startApp({
    ...wso2EnvFor(fake),
    WSO2_CA_FILE: tls.certFile,
    INVESTOR_USER_ID: "5d4c3b2a-1e0f-4a9b-8c7d-alice",
  });
  // The dashboard signs Alice in at the tenant: its callback is the app's, known now.
  fake.registerDashboardCallback(`${app.url}/auth/callback`);
  // Alice's browser accepted the tenant's self-signed certificate, as the app trusts WSO2_CA_FILE.
  trustInBrowser(app.url, tls.cert);
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

it("signs in and reads prices through /mcp with a self-signed WSO2 trusted by WSO2_CA_FILE", async () => {
  expect(fake.base).toMatch(/^https:/);
  const agent = await waitUntil(() => agentOf(app.url), (a) => a.tokens.agent !== null && a.lastPrice !== null, 30_000, "agent token and a price read via MCP");
  expect(agent.tokens.agent).toMatchObject({ sub: fake.options.agentId, iss: fake.issuer });
  expect(fake.requestsTo("/oauth2/jwks").length).toBeGreaterThanOrEqual(1);
  const activity = (await dashboardOf(app.url)).activity;
  expect(activity.some((e) => e.kind === "agent.price" || e.kind === "agent.threshold")).toBe(true);
  expect(activity.some((e) => e.kind === "agent.unavailable")).toBe(false);
});
