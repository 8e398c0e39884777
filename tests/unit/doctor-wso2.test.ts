import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "@/lib/config";
import { runDoctor } from "@/lib/doctor/run";
import type { DoctorReport, Status } from "@/lib/doctor/report";
import { createSelfSignedCertificate } from "../fakes/self-signed";
import { startWso2Fake, type Wso2Fake, type Wso2FakeOptions } from "../fakes/wso2-fake";

/**
 * The doctor against the WSO2 fake, once healthy and once for each misconfiguration it claims to
 * diagnose. Each case asserts the failing check, its fix hint, and that no secret is printed.
 */
let fake: Wso2Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const CLIENT_SECRET = "wso2-client-secret";
const AGENT_SECRET = "wso2-agent-secret";

type Env = Record<string, string> | ((fake: Wso2Fake) => Record<string, string>);

async function doctor(fakeOptions: Wso2FakeOptions = {}, env: Env = {}, sendTestApproval = false) {
  fake = await startWso2Fake(fakeOptions);
  const overrides = typeof env === "function" ? env(fake) : env;
  const config = parseConfig({
    NODE_ENV: "test",
    // Nothing listens here: the "running app" check reports that and moves on.
    PUBLIC_URL: "http://127.0.0.1:9",
    DATA_DIR: "memory://",
    AUTH_PROVIDER: "wso2",
    WSO2_BASE_URL: fake.base,
    AGENT_CLIENT_ID: fake.options.clientId,
    AGENT_CLIENT_SECRET: CLIENT_SECRET,
    AGENT_ID: fake.options.agentId,
    WSO2_AGENT_SECRET: AGENT_SECRET,
    WSO2_REDIRECT_URI: fake.options.redirectUri,
    INVESTOR_EMAIL: "alice@example.com",
    INVESTOR_USER_ID: "5d4c3b2a-1e0f-4a9b-8c7d-alice",
    ...overrides,
  });
  const report = await runDoctor(config, { sendTestApproval });
  const text = report.format();
  expect(text).not.toContain(CLIENT_SECRET);
  expect(text).not.toContain(AGENT_SECRET);
  return { report, text, fake };
}

function statusOf(report: DoctorReport, id: string): Status | undefined {
  return report.find(id)?.status;
}
const failures = (report: DoctorReport) => report.findings.filter((f) => f.status === "fail").map((f) => f.id);

describe("doctor against a healthy WSO2 tenant", () => {
  it("passes every check without notifying anyone", async () => {
    const { report, text, fake } = await doctor();
    expect(failures(report)).toEqual([]);
    expect(report.failed).toBe(false);
    for (const id of ["config", "discovery", "jwks", "agent-token", "agent-token.scope", "mcp-audience", "ciba"]) expect(statusOf(report, id), id).toBe("ok");
    expect(statusOf(report, "user")).toBe("warn");
    expect(statusOf(report, "assurance.order-in-token")).toBe("warn");
    expect(statusOf(report, "assurance.recorded-approval")).toBe("ok");
    expect(text).toMatch(/✓ Discovery reachable; issuer http:\/\/127\.0\.0\.1:\d+\/oauth2\/token \(named by the server\)/);
    expect(text).toMatch(/! Assurance: Order carried in the token: not in force[\s\S]*✓ Assurance: Order bound to the recorded approval: holds/);
    expect(text).toMatch(/✓ The CIBA endpoint accepts the client and its CIBA grant \(the probe's binding_message was refused before any user was looked up; nobody was notified\)/);
    expect(text).toContain("npm run doctor -- --send-test-approval");
    // The CIBA probe named nobody and started no request.
    expect(fake.ciba).toEqual([]);
    const probes = fake.requestsTo("/oauth2/ciba");
    expect(probes).toHaveLength(1);
    expect(probes[0]!.form).toEqual({ scope: "openid", login_hint: "sleeping-guardian-doctor-probe", binding_message: "<doctor probe: never sent to anyone>" });
  });

  it("trusts the issuer the server names when it is not {base}/oauth2/token (the tutorial's /t/carbon.super base)", async () => {
    const { report, text, fake } = await doctor({ orgPath: "/t/carbon.super" });
    expect(failures(report)).toEqual([]);
    for (const id of ["discovery", "agent-token", "mcp-audience", "ciba"]) expect(statusOf(report, id), id).toBe("ok");
    expect(text).toContain(`✓ Discovery reachable; issuer ${fake.issuer} (named by the server)`);
    expect(text).toContain(`It is not ${fake.base}/oauth2/token: WSO2 names its configured public URL`);
  });

  it("with --send-test-approval sends one real request, says so, and the user resolves", async () => {
    const { report, text, fake } = await doctor({}, {}, true);
    expect(failures(report)).toEqual([]);
    expect(statusOf(report, "user")).toBe("ok");
    expect(text).toMatch(/! Sent a REAL approval request to Alice \("DOCTOR TEST please deny #[0-9A-F]{4}"\): deny it/);
    expect(fake.ciba).toHaveLength(1);
    expect(fake.ciba[0]!.form).toMatchObject({ login_hint: "alice@example.com", binding_message: expect.stringMatching(/^DOCTOR TEST please deny #/) });
  });

  it("trusts a self-signed server through WSO2_CA_FILE, and says how to get there without it", async () => {
    const tls = createSelfSignedCertificate();
    const without = await doctor({ tls: { key: tls.key, cert: tls.cert } });
    expect(failures(without.report)).toEqual(["discovery"]);
    expect(without.text).toMatch(/WSO2_CA_FILE/);
    expect(without.text).toMatch(/never set NODE_TLS_REJECT_UNAUTHORIZED=0/);
    await fake!.close();
    const withCa = await doctor({ tls: { key: tls.key, cert: tls.cert } }, { WSO2_CA_FILE: tls.certFile });
    expect(failures(withCa.report)).toEqual([]);
    expect(statusOf(withCa.report, "ca-file")).toBe("ok");
  });
});

describe("doctor diagnoses a misconfigured WSO2 tenant", () => {
  it.each([
    // The agent checks ID tokens against AUTH_ISSUER too: its own token fails first, so no approval request can be lost.
    ["wrong issuer", {}, { AUTH_ISSUER: "https://localhost:9443/oauth2/token" }, false, ["discovery.issuer", "agent-token"], /Issuer mismatch[\s\S]*Leave AUTH_ISSUER unset \(the app then trusts the issuer the discovery document names\)[\s\S]*The agent cannot get its token: issuer_mismatch\n    the server signed its ID token as issuer http:\/\/127\.0\.0\.1:\d+\/oauth2\/token, but this app trusts https:\/\/localhost:9443\/oauth2\/token/],
    // Without signing keys the ID token of the code exchange cannot be verified: no agent token.
    ["no signing keys", { emptyJwks: true }, {}, false, ["jwks", "agent-token"], /no signing keys/],
    // App-native authentication answers HTTP 401 {code: "401", message: "Unauthorized"}; the CIBA endpoint invalid_client.
    ["wrong client secret", {}, { AGENT_CLIENT_SECRET: "not-the-secret" }, false, ["agent-token", "ciba"], /The agent cannot get its token: 401\n    Unauthorized Client credentials are invalid\.\n    → AGENT_CLIENT_ID \/ AGENT_CLIENT_SECRET must be the Client ID and Client Secret[\s\S]*refuses the client: invalid_client/],
    ["wrong agent secret", {}, { WSO2_AGENT_SECRET: "not-the-agent-secret" }, false, ["agent-token"], /AGENT_ID \/ WSO2_AGENT_SECRET must be the Agent ID and Agent Secret/],
    ["app-native authentication not enabled", { appNative: false }, {}, false, ["agent-token"], /Enable App-Native Authentication/],
    ["Code grant type missing", { codeGrant: false }, {}, false, ["agent-token"], /unauthorized_client[\s\S]*Enable the Code grant type/],
    ["access token type not JWT", { accessTokenType: "Default" }, {}, false, ["agent-token.type"], /The agent token is not a JWT[\s\S]*Protocol → Access Token → Token type → JWT/],
    ["scope not authorized", { agentScopes: [] }, {}, false, ["agent-token.scope"], /lacks stock:read[\s\S]*Assign the role to Aurelius Bot/],
    ["scope too broad", { agentTokenScope: "openid stock:read stock:trade" }, {}, false, ["agent-token.scope"], /Scope too broad/],
    ["CIBA grant not enabled", { cibaGrant: false }, {}, false, ["ciba"], /refuses the client: unauthorized_client\n    Client has not configured grant_type properly\.[\s\S]*Allowed grant types → CIBA/],
    ["unknown user", {}, { INVESTOR_EMAIL: "bob@example.com" }, true, ["user"], /refused: invalid_request\n    Invalid ciba request\.\n    → INVESTOR_EMAIL must be the username of a valid user[\s\S]*verified/],
    ["notification channel not allowed", { notificationChannels: ["email"] }, { WSO2_NOTIFICATION_CHANNEL: "sms" }, true, ["user"], /Requested notification channel is not allowed[\s\S]*Allowed Notification Delivery Methods/],
    ["wrong MCP audience", {}, { MCP_AUDIENCE: "https://broker.example.com/mcp" }, false, ["mcp-audience"], /MCP_AUDIENCE is https:\/\/broker.example.com\/mcp; the token's audience is wso2-client-id[\s\S]*leave MCP_AUDIENCE unset/],
    ["wrong redirect URI", {}, { WSO2_REDIRECT_URI: "http://localhost:5001/callback" }, false, ["agent-token"], /ABA-60001\n    Invalid authentication request\. invalid_callback - callback\.not\.match\n    → WSO2_REDIRECT_URI must be one of the application's Authorized redirect URLs/],
  ] as const)("%s", async (_name, fakeOptions, env, send, failing, hint) => {
    const { report, text } = await doctor(fakeOptions as Wso2FakeOptions, env as Record<string, string>, send);
    expect(failures(report)).toEqual(failing);
    expect(text).toMatch(hint);
  });

  it("why the probe names a user: WSO2 refuses a request without login_hint before it looks at the grant types", async () => {
    fake = await startWso2Fake({ cibaGrant: false });
    const basic = `Basic ${Buffer.from(`${fake.options.clientId}:${CLIENT_SECRET}`).toString("base64")}`;
    const response = await fetch(`${fake.base}/oauth2/ciba`, { method: "POST", headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ scope: "openid" }) });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_request", error_description: "Missing required parameters. Either 'request' JWT or (scope, login_hint) are required." });
  });

  it("a wrong organisation path: no discovery document", async () => {
    const { report, text } = await doctor({ orgPath: "/t/acme" }, (f) => ({ WSO2_BASE_URL: f.base.replace("/t/acme", "/t/other") }));
    expect(report.find("discovery")?.status).toBe("fail");
    expect(text).toMatch(/No discovery document[\s\S]*organisation path/);
  });

  it("an unreachable server: one failure, the rest skipped", async () => {
    fake = await startWso2Fake();
    const base = fake.base;
    await fake.close();
    const { report } = await doctor({}, { WSO2_BASE_URL: base });
    expect(failures(report)).toEqual(["discovery"]);
    expect(report.find("skipped")?.status).toBe("warn");
    expect(report.find("discovery")?.fix.join(" ")).toMatch(/Is WSO2 Identity Server running/);
  });
});
