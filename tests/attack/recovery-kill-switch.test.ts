import { afterEach, describe, expect, it } from "vitest";
import { openDb } from "../../lib/store/db";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { startApp, type AppServer } from "../helpers/app-server";
import { agentProfile, clientCredentials, KILL_SWITCH_ENV, readPrice } from "./kill-switch-support";

/**
 * The kill switch against a crash. kill -9 right after the revoke answered: after the restart the
 * agent is still revoked, stays stopped, and everything it held is still refused. And a crash in
 * the middle of a revocation (the record written, nothing after it): the restart finishes it — the
 * loop does not start, the client secret is replaced, the record is marked complete.
 * One app at a time, each on its own data.
 */
let app: AppServer | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
});

/** Tokens the attacker holds before the revocation, checked to work. */
async function tokensBefore(a: AppServer) {
  const dpop = await agentProfile(a).getAgentToken();
  const bearer = (await clientCredentials(a)).body.access_token!;
  expect(await readPrice(a, dpop)).toMatchObject({ status: 200 });
  expect(await readPrice(a, bearer)).toMatchObject({ status: 200 });
  return { dpop, bearer };
}

async function expectRevokedAfterRestart(a: AppServer, tokens: Awaited<ReturnType<typeof tokensBefore>>) {
  const view = await waitUntil(() => agentOf(a.url), (v) => v.revocation?.completed === true, 20_000, "the revocation complete after the restart");
  expect(view.revocation).toMatchObject({ status: "revoked", completed: true });
  expect(view.running).toBe(false);
  expect(await readPrice(a, tokens.dpop)).toMatchObject({ status: 401, error: "invalid_token" });
  expect(await readPrice(a, tokens.bearer)).toMatchObject({ status: 401, error: "invalid_token" });
  expect(await clientCredentials(a)).toMatchObject({ status: 401, body: { error: "invalid_client" } });
  // The loop stays stopped: no price read in a second and a half of 250 ms ticks.
  await new Promise((r) => setTimeout(r, 1500));
  expect((await agentOf(a.url)).lastPrice).toBeNull();
  expect(a.output()).toMatch(/Aurelius stays stopped: its access was revoked/);
}

describe("kill -9 and the kill switch", () => {
  it("kill -9 right after the revoke answered: still revoked after the restart, every token and the old secret refused", async () => {
    app = await startApp(KILL_SWITCH_ENV);
    const tokens = await tokensBefore(app);
    const res = await press(app.url, "/api/agent/revoke");
    expect(res.status).toBe(200);
    await app.kill();
    await app.start();
    await expectRevokedAfterRestart(app, tokens);
  }, 180_000);

  it("a crash right after the record was written: the restart finishes the revocation", async () => {
    app = await startApp(KILL_SWITCH_ENV);
    const tokens = await tokensBefore(app);
    await app.kill();
    // What the store holds when the process dies right after the revocation's first step committed.
    const db = await openDb({ dataDir: app.dataDir });
    try {
      await db.query(
        `INSERT INTO agent_revocations (agent_id, client_id, status, reason, revoked_at, not_before)
         VALUES ('aurelius', 'aurelius-agent', 'revoked', 'revoked by Alice from the dashboard', now(), extract(epoch FROM now())::bigint + 1)`,
      );
    } finally {
      await db.close();
    }
    await app.start();
    await expectRevokedAfterRestart(app, tokens);
    expect(app.output()).toMatch(/the last revocation of the agent was interrupted: finishing it/);
    const lines = (await dashboardOf(app.url)).activity.filter((e) => e.kind === "agent.revoked");
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(/its secret replaced/);
  }, 180_000);
});
