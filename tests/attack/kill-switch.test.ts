import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IdentityServerProfile, TokenResult } from "../../lib/auth/profiles/types";
import type { AgentView } from "../../lib/agent/view";
import { agentOf, dashboardOf, press, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startApp, type AppServer } from "../helpers/app-server";
import { asInvestor } from "../helpers/investor-session";
import { sampleCibaRequest } from "../helpers/orders";
import { AGENT_SECRET, agentProfile, clientCredentials, KILL_SWITCH_ENV, PASSWORD, pollCiba, readPrice } from "./kill-switch-support";

/**
 * The kill switch, attacked. Before Alice pulls it, the attacker holds what the agent held: a
 * DPoP-bound agent token with its key, a bearer agent token, the client secret, and a pending CIBA
 * request whose approval page Alice has open and signed in to. After the revoke, every one of them
 * is worthless: /mcp answers 401 invalid_token, the token endpoint invalid_client, the approval
 * cannot be given. Bad requests to the kill switch change nothing; a replayed or concurrent revoke
 * is idempotent. Re-enabling gives the agent fresh credentials and leaves the old ones dead.
 */
let app: AppServer;
let profile: IdentityServerProfile;
let dpopToken: TokenResult;
let bearerToken: string;
let authReqId: string;
let alice: Alice;

beforeAll(async () => {
  app = await startApp(KILL_SWITCH_ENV);
  profile = agentProfile(app);
  dpopToken = await profile.getAgentToken();
  const issued = await clientCredentials(app);
  expect(issued).toMatchObject({ status: 200, body: { token_type: "Bearer" } });
  bearerToken = issued.body.access_token!;
  const ack = await profile.startCiba(sampleCibaRequest(dpopToken.accessToken));
  authReqId = ack.authReqId;
  alice = new Alice(app.url, "alice@example.com", PASSWORD);
  const mail = await alice.waitForApprovalMail();
  // Alice has the approval page open and is signed in: only the click is left.
  await alice.open(mail.approve, "approve");
}, 240_000);
afterAll(async () => {
  await app?.stop();
});

/** A revoke from Alice's own dashboard (her session and origin) unless `init` says otherwise. */
const postRevoke = (init: RequestInit = {}) => asInvestor(app.url, "/api/agent/revoke", { method: "POST", ...init });

/** POST /api/agent/revoke naming another Host (fetch always sends the URL's own). */
function postRevokeForHost(host: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: app.port, path: "/api/agent/revoke", method: "POST", setHost: false, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(new Response(null, { status: res.statusCode })));
    });
    req.on("error", reject);
    req.setHeader("host", host);
    req.end();
  });
}

describe("before the kill switch", () => {
  it("the attacker's tokens work at /mcp, so what follows can fail", async () => {
    expect(dpopToken.dpop).toBeDefined();
    expect(await readPrice(app, dpopToken)).toMatchObject({ status: 200 });
    expect(await readPrice(app, bearerToken)).toMatchObject({ status: 200 });
    expect(await pollCiba(app, authReqId)).toEqual({ status: 400, error: "authorization_pending" });
  });

  it.each<[string, number, string, () => Promise<Response>]>([
    ["a revoke with a body", 400, "invalid_request", () => postRevoke({ headers: { "content-type": "application/json" }, body: JSON.stringify({ agent: "aurelius" }) })],
    ["a revoke with a body that is not JSON", 400, "invalid_request", () => postRevoke({ headers: { "content-type": "application/json" }, body: "revoke!" })],
    ["a revoke with an oversized body", 413, "invalid_request", () => postRevoke({ headers: { "content-type": "application/json" }, body: JSON.stringify({ x: "a".repeat(5000) }) })],
    ["a revoke from a foreign Origin", 403, "forbidden_origin", () => postRevoke({ headers: { origin: "https://evil.example" } })],
    ["a revoke for a foreign Host", 421, "", () => postRevokeForHost("evil.example")],
    ["a revoke without Alice's session", 401, "login_required", () => fetch(`${app.url}/api/agent/revoke`, { method: "POST", headers: { origin: app.url } })],
    ["a re-enable without Alice's session", 401, "login_required", () => fetch(`${app.url}/api/agent/reenable`, { method: "POST", headers: { origin: app.url } })],
    ["a re-enable from a foreign Origin", 403, "forbidden_origin", () => asInvestor(app.url, "/api/agent/reenable", { method: "POST", headers: { origin: "https://evil.example" } })],
  ])("%s is refused (%i %s) and changes nothing", async (_name, status, error, send) => {
    const res = await send();
    expect(res.status).toBe(status);
    if (error) expect(((await res.json()) as { error?: string }).error).toBe(error);
    expect((await agentOf(app.url)).revocation).toBeNull();
    expect(await readPrice(app, dpopToken)).toMatchObject({ status: 200 });
  });

  it("a GET does not revoke (405)", async () => {
    expect((await fetch(`${app.url}/api/agent/revoke`)).status).toBe(405);
    expect((await agentOf(app.url)).revocation).toBeNull();
  });

  it("re-enabling an agent that was never revoked is 409 agent_not_revoked", async () => {
    const res = await press(app.url, "/api/agent/reenable");
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toBe("agent_not_revoked");
  });
});

describe("Alice pulls the kill switch", () => {
  let revoked: AgentView;

  beforeAll(async () => {
    const res = await press(app.url, "/api/agent/revoke");
    expect(res.status).toBe(200);
    revoked = (await res.json()) as AgentView;
  });

  it("the answer says the agent is revoked, every step done, the loop stopped", () => {
    expect(revoked.revocation).toMatchObject({ status: "revoked", completed: true, reenabledAt: null });
    expect(revoked.revocation!.reason).toMatch(/revoked by Alice/);
    expect(revoked.running).toBe(false);
    expect(revoked.reason).toMatch(/^Access revoked: /);
    expect(revoked.tokens).toEqual({ agent: null, obo: null });
  });

  it("the DPoP-bound agent token, with a fresh proof of its key: 401 invalid_token", async () => {
    const answer = await readPrice(app, dpopToken);
    expect(answer).toMatchObject({ status: 401, error: "invalid_token" });
    expect(answer.challenge).toMatch(/^DPoP error="invalid_token", error_description="The agent's access was revoked: [^"]+", algs="[^"]+", resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/);
  });

  it("the bearer agent token: 401 invalid_token", async () => {
    const answer = await readPrice(app, bearerToken);
    expect(answer).toMatchObject({ status: 401, error: "invalid_token" });
    expect(answer.challenge).toMatch(/^Bearer error="invalid_token", error_description="The agent's access was revoked/);
  });

  it("the old client secret gets no new token (invalid_client), with or without DPoP", async () => {
    expect(await clientCredentials(app)).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    await expect(agentProfile(app).getAgentToken()).rejects.toMatchObject({ code: "invalid_client" });
  });

  it("the pending CIBA request: the poll is refused, Alice's approval is not taken, the page says cancelled", async () => {
    expect(await pollCiba(app, authReqId)).toEqual({ status: 401, error: "invalid_client" });
    const page = await alice.submit("approve");
    expect(page).toContain('data-testid="approval-cancelled"');
    expect(page).not.toContain('data-status="approved"');
    expect(page).toContain("access was revoked before you decided");
  });

  it("the agent says why: activity log, state, and no more price reads", async () => {
    const state = await dashboardOf(app.url);
    const lines = state.activity.filter((e) => e.kind === "agent.revoked");
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(/Aurelius stopped: Alice revoked its access .*The broker refuses its tokens.*its secret replaced, 1 pending approval request\(s\) cancelled/);
    await new Promise((r) => setTimeout(r, 1000));
    const agent = await agentOf(app.url);
    expect(agent.lastPrice).toBeNull();
    expect(agent.running).toBe(false);
  });

  it("pause and resume of a revoked agent: 409 agent_revoked", async () => {
    for (const action of ["pause", "resume"]) {
      const res = await press(app.url, `/api/agent/${action}`);
      expect(res.status).toBe(409);
      expect(((await res.json()) as { error: string }).error).toBe("agent_revoked");
    }
  });

  it("a replayed revoke and five concurrent ones change nothing", async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => press(app.url, "/api/agent/revoke")));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const views = (await Promise.all(answers.map((r) => r.json()))) as AgentView[];
    for (const v of views) expect(v.revocation).toEqual(revoked.revocation);
    const state = await dashboardOf(app.url);
    expect(state.activity.filter((e) => e.kind === "agent.revoked")).toHaveLength(1);
  });
});

describe("Alice re-enables the agent", () => {
  let before: AgentView;
  let after: AgentView;

  beforeAll(async () => {
    before = await agentOf(app.url);
    const res = await press(app.url, "/api/agent/reenable");
    expect(res.status).toBe(200);
    after = await waitUntil(() => agentOf(app.url), (a) => a.running && a.lastPrice !== null && a.tokens.agent !== null, 20_000, "the re-enabled agent reading the price");
  });

  it("the agent runs again with a new DPoP key", () => {
    expect(before.revocation!.status).toBe("revoked");
    expect(after.revocation).toMatchObject({ status: "enabled", revokedAt: before.revocation!.revokedAt });
    expect(after.revocation!.reenabledAt).not.toBeNull();
    const jkt = (after.tokens.agent as { cnf?: { jkt?: string } }).cnf?.jkt;
    expect(jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(jkt).not.toBe(dpopToken.dpop!.thumbprint);
  });

  it("the tokens issued before the revocation stay refused", async () => {
    expect(await readPrice(app, dpopToken)).toMatchObject({ status: 401, error: "invalid_token", challenge: expect.stringContaining("issued before the agent's access was revoked") });
    expect(await readPrice(app, bearerToken)).toMatchObject({ status: 401, error: "invalid_token" });
  });

  it("the old secret stays refused: the agent has a new one", async () => {
    expect(await clientCredentials(app, AGENT_SECRET)).toMatchObject({ status: 401, body: { error: "invalid_client" } });
  });

  it("a second re-enable changes nothing", async () => {
    const res = await press(app.url, "/api/agent/reenable");
    expect(res.status).toBe(200);
    expect(((await res.json()) as AgentView).revocation).toEqual(after.revocation);
  });
});
