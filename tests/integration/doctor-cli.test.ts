import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, waitForBuild, type AppServer } from "../helpers/app-server";
import { startAuth0Fake } from "../fakes/auth0-fake";
import { startWso2Fake } from "../fakes/wso2-fake";
import { wso2EnvFor } from "../helpers/wso2-env";

/**
 * `npm run doctor` as a user runs it: a child process (tsx, re-run under the react-server
 * condition), configured by the environment only. Exit code 0 when all is well, 1 when a check
 * fails or the configuration is invalid; secrets never printed. Also against a running app in
 * embedded mode.
 */
const ROOT = path.resolve(__dirname, "..", "..");
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
});

function runDoctor(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), path.join(ROOT, "scripts", "doctor.ts"), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test", DATA_DIR: "memory://", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// The tests start the app themselves: the build comes first, outside their time limit.
beforeAll(waitForBuild);

describe("npm run doctor (CLI)", () => {
  it("WSO2, healthy: exit 0, every check printed, no secret", async () => {
    const fake = await startWso2Fake();
    cleanup.push(fake.close);
    const env = {
      ...wso2EnvFor(fake),
      INVESTOR_USER_ID: "5d4c3b2a-1e0f-4a9b-8c7d-alice",
      PUBLIC_URL: "http://127.0.0.1:9",
    };
    const ok = await runDoctor(env);
    expect(ok.output).toMatch(/✓ Agent token obtained/);
    expect(ok.output).toMatch(/✓ The CIBA endpoint accepts the client/);
    expect(ok.output).toMatch(/No problems found/);
    expect(ok.output).not.toContain(fake.options.clientSecret);
    expect(ok.output).not.toContain(fake.options.agentSecret);
    expect(ok.code).toBe(0);

    const bad = await runDoctor({ ...env, WSO2_AGENT_SECRET: "a-wrong-agent-secret" });
    expect(bad.output).toMatch(/✗ The agent cannot get its token: authentication_failed/);
    expect(bad.output).not.toContain("a-wrong-agent-secret");
    expect(bad.code).toBe(1);
  });

  it("Auth0, misconfigured CIBA: exit 1 with the fix", async () => {
    const fake = await startAuth0Fake({ grantTypes: ["client_credentials"] });
    cleanup.push(fake.close);
    const result = await runDoctor({
      AUTH_PROVIDER: "auth0",
      AUTH0_DOMAIN: fake.origin,
      AGENT_CLIENT_ID: fake.options.clientId,
      AGENT_CLIENT_SECRET: fake.options.clientSecret,
      MCP_AUDIENCE: fake.options.api.identifier,
      INVESTOR_USER_ID: "auth0|65f0c0ffee0000000000alice",
      PUBLIC_URL: "http://127.0.0.1:9",
    });
    expect(result.output).toMatch(/✗ The CIBA endpoint refuses the client: unauthorized_client/);
    expect(result.output).toMatch(/→ Enable the Client Initiated Backchannel Authentication \(CIBA\) grant/);
    expect(result.output).not.toContain(fake.options.clientSecret);
    expect(result.code).toBe(1);
  });

  it("an invalid configuration: exit 1 naming the variable", async () => {
    const result = await runDoctor({ AUTH_PROVIDER: "wso2" });
    expect(result.output).toMatch(/✗ Configuration invalid/);
    expect(result.output).toMatch(/WSO2_BASE_URL: required/);
    expect(result.code).toBe(1);
  });

  it("an unknown option: exit 2 with the usage", async () => {
    const result = await runDoctor({}, ["--notify-everyone"]);
    expect(result.output).toMatch(/usage: npm run doctor/);
    expect(result.code).toBe(2);
  });

  it("embedded: checks the running app's own authorization server and MCP metadata", async () => {
    const secret = "embedded-doctor-secret-1";
    const app: AppServer = await startApp({ AGENT_CLIENT_SECRET: secret, AGENT_ENABLED: "false" });
    cleanup.push(app.stop);
    const result = await runDoctor({ PUBLIC_URL: app.url, AGENT_CLIENT_SECRET: secret });
    expect(result.output).toMatch(new RegExp(`✓ Discovery reachable; issuer ${app.url}/oidc`));
    expect(result.output).toMatch(/✓ Agent token obtained: sub aurelius, scope openid stock:read/);
    expect(result.output).toMatch(/✓ The MCP server accepts the agent token/);
    expect(result.output).toMatch(/✓ The CIBA endpoint accepts the client/);
    expect(result.output).toMatch(new RegExp(`✓ The running app's MCP server names ${app.url}/oidc for ${app.url}/mcp`));
    expect(result.output).toMatch(/✓ Assurance: Order carried in the token: holds\.[^\n]*\n {4}Configuration: binding rule rar[^\n]*\n {4}The server advertises stock_trade/);
    expect(result.output).toMatch(/– Assurance: Order bound to the recorded approval: not in force\. Not needed/);
    expect(result.output).toMatch(/✓ Assurance: Trade token bound to the agent's key \(DPoP\): holds\.[\s\S]*The agent token, requested the same way, is bound \(cnf\.jkt\)/);
    expect(result.output).not.toContain(secret);
    expect(result.code).toBe(0);

    const wrong = await runDoctor({ PUBLIC_URL: app.url, AGENT_CLIENT_SECRET: "not-the-embedded-secret" });
    expect(wrong.output).toMatch(/✗ The agent cannot get its token: invalid_client[\s\S]*AGENT_CLIENT_SECRET must be the secret the embedded server generated/);
    expect(wrong.output).not.toContain("not-the-embedded-secret");
    expect(wrong.code).toBe(1);

    const stopped = await runDoctor({ PUBLIC_URL: "http://127.0.0.1:9", AGENT_CLIENT_SECRET: secret });
    expect(stopped.output).toMatch(/start it first \(npm run dev\)/);
    expect(stopped.code).toBe(1);
  });
});
