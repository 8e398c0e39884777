import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "@/lib/config";
import type { DoctorReport } from "@/lib/doctor/report";
import { runDoctor } from "@/lib/doctor/run";
import { startAuth0Fake, type Auth0Fake, type Auth0FakeOptions } from "../fakes/auth0-fake";

/**
 * The doctor against the Auth0 fake, once healthy and once for each misconfiguration it claims to
 * diagnose. Each case asserts the failing checks, the fix hint, and that no secret is printed.
 */
let fake: Auth0Fake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const SECRET = "auth0-client-secret";
const API = "https://broker.example.com/mcp";

async function doctor(fakeOptions: Auth0FakeOptions = {}, env: Record<string, string> | ((f: Auth0Fake) => Record<string, string>) = {}, sendTestApproval = false) {
  fake = await startAuth0Fake(fakeOptions);
  const config = parseConfig({
    NODE_ENV: "test",
    PUBLIC_URL: "http://127.0.0.1:9",
    DATA_DIR: "memory://",
    AUTH_PROVIDER: "auth0",
    AUTH0_DOMAIN: fake.origin,
    AGENT_CLIENT_ID: fake.options.clientId,
    AGENT_CLIENT_SECRET: SECRET,
    MCP_AUDIENCE: API,
    INVESTOR_USER_ID: "auth0|65f0c0ffee0000000000alice",
    ...(typeof env === "function" ? env(fake) : env),
  });
  const report = await runDoctor(config, { sendTestApproval });
  const text = report.format();
  expect(text).not.toContain(SECRET);
  return { report, text, fake };
}

const failures = (report: DoctorReport) => report.findings.filter((f) => f.status === "fail").map((f) => f.id);

describe("doctor against a healthy Auth0 tenant", () => {
  it("passes every check without notifying anyone", async () => {
    const { report, text, fake } = await doctor();
    expect(failures(report)).toEqual([]);
    for (const id of ["discovery", "jwks", "agent-token", "agent-token.scope", "mcp-audience", "ciba", "assurance.order-in-token"]) expect(report.find(id)?.status, id).toBe("ok");
    expect(text).toMatch(/✓ Agent token obtained: sub Auth0AgentClientId123@clients, scope stock:read, aud https:\/\/broker.example.com\/mcp/);
    expect(text).toMatch(/✓ Assurance: Order carried in the token: holds\. The approved order travels in the token and the broker checks every trade against it\.\n {4}Configuration: binding rule rar/);
    expect(text).toMatch(/The server does not advertise authorization_details types/);
    expect(text).toMatch(/– Assurance: Order bound to the recorded approval: not in force\. Not needed: the order travels in the token/);
    expect(text).toMatch(/! Assurance: Trade token bound to the agent's key \(DPoP\): not in force\. The trade token is a bearer token[^\n]*\n {4}Client: Auth0 does not sender-constrain the CIBA grant/);
    expect(report.find("assurance.recorded-approval")?.status).toBe("info");
    expect(report.find("assurance.dpop")?.status).toBe("warn");
    expect(fake.ciba).toEqual([]);
    expect(fake.requestsTo("/bc-authorize")[0]!.form).toEqual({ scope: "openid", audience: API, client_id: fake.options.clientId, client_secret: SECRET });
  });

  it("with --send-test-approval sends one real request in Guardian's RAR schema", async () => {
    const { report, text, fake } = await doctor({}, {}, true);
    expect(failures(report)).toEqual([]);
    expect(text).toMatch(/Sent a REAL approval request/);
    expect(fake.ciba).toHaveLength(1);
    expect(JSON.parse(fake.ciba[0]!.form.authorization_details!)[0].type).toBe("urn:auth0:schemas:authorization-details:v1:stock_trade");
  });
});

describe("doctor diagnoses a misconfigured Auth0 tenant", () => {
  it.each([
    ["issuer without its trailing slash", {}, (f: Auth0Fake) => ({ AUTH_ISSUER: f.origin }), false, ["discovery.issuer", "mcp-audience"], /Issuer mismatch[\s\S]*with the trailing slash/],
    ["no signing keys", { emptyJwks: true }, {}, false, ["jwks", "mcp-audience"], /no signing keys/],
    ["wrong client secret", {}, { AGENT_CLIENT_SECRET: "not-the-secret" }, false, ["agent-token", "ciba"], /Client ID and Client Secret[\s\S]*AUTH0_CLIENT_AUTH/],
    ["wrong authentication method", { authMethod: "client_secret_basic" as const }, {}, false, ["agent-token", "ciba"], /AUTH0_CLIENT_AUTH must match/],
    ["wrong audience (not an API identifier)", {}, { MCP_AUDIENCE: "https://wrong.example.com/api" }, false, ["agent-token"], /Service not found[\s\S]*MCP_AUDIENCE must be the Identifier of the API/],
    ["application not authorized for the API", { clientGrantScopes: null }, {}, false, ["agent-token"], /Machine To Machine Applications/],
    ["scope too broad", { clientGrantScopes: ["stock:read", "stock:trade"], actionAddsScopes: ["stock:trade"] }, {}, false, ["agent-token.scope"], /Scope too broad[\s\S]*Remove stock:trade from the application's machine-to-machine grant/],
    ["client credentials grant missing", { grantTypes: ["urn:openid:params:grant-type:ciba"] }, {}, false, ["agent-token"], /Client Credentials grant/],
    ["CIBA not enabled", { grantTypes: ["client_credentials"] }, {}, false, ["ciba"], /Client Initiated Backchannel Authentication \(CIBA\) grant/],
    ["unknown user", { users: [] }, {}, true, ["user"], /unknown_user_id[\s\S]*INVESTOR_USER_ID must be Alice's user_id/],
    ["user id not in Auth0's format", {}, { INVESTOR_USER_ID: "alice" }, false, ["user.id"], /is not an Auth0 user id/],
    ["another investor's id not in Auth0's format", {}, { INVESTORS: "auth0|65f0c0ffee0000000000bob0:Bob:bob@example.com,carol:Carol:carol@example.com" }, false, ["user.id"], /INVESTORS entry for Carol: carol is not an Auth0 user id/],
    ["RAR type not registered on the API", {}, { AUTH0_RAR_TYPE: "trade" }, true, ["user"], /invalid_authorization_details[\s\S]*→ Register the authorization details type/],
    [
      "RAR type not allowed on the client grant (require_client_grant)",
      {
        api: { identifier: API, scopes: ["stock:read", "stock:trade"], rarTypes: ["urn:auth0:schemas:authorization-details:v1:stock_trade"], userAccessPolicy: "require_client_grant" as const },
        userClientGrant: { scopes: ["stock:read", "stock:trade"], authorizationDetailsTypes: [] },
      },
      {},
      true,
      ["user"],
      /invalid_authorization_details[\s\S]*→ If the API's User-Delegated Access policy is Per-app authorization, allow the type on the application's user-delegated client grant/,
    ],
    ["no notification channel reaches Alice", { notEnrolledInPush: ["auth0|65f0c0ffee0000000000alice"] }, {}, true, ["user"], /refused: invalid_request[\s\S]*→ Enable the application's CIBA notification channels/],
  ] as const)("%s", async (_name, fakeOptions, env, send, failing, hint) => {
    const { report, text } = await doctor(fakeOptions as Auth0FakeOptions, env as Record<string, string>, send);
    expect(failures(report)).toEqual(failing);
    expect(text).toMatch(hint);
  });
});
