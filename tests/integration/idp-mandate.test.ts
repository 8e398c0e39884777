import { createServer } from "node:net";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedIdp, type EmbeddedIdp } from "@/lib/idp";
import { useTestDb } from "../helpers/store";
import { ACCESS_TOKEN_TYPE, AGENT_CLIENT_ID, AGENT_SECRET, agentToken, ApprovalPageUser, inProcessIdpConfig, oauthError, order, PASSWORD } from "./idp-support";

/**
 * A standing mandate (RFC 9396 type stock_trade_mandate) at the embedded authorization server:
 * asked for with CIBA by the agent's client, shown to Alice with its limits on the approval page,
 * approved there, and issued as a grant from which the agent draws short-lived access tokens with
 * its refresh token, each carrying the mandate, `sub` = Alice and `act.sub` = the agent. The
 * server runs in-process on a port of its own, so its issuer is the address the client talks to.
 */
const db = useTestDb();
let idp: EmbeddedIdp;
let agent: oidc.Configuration;
let base: string;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let mandateCount = 0;
function mandate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "stock_trade_mandate",
    mandate_id: `mdt_IdpMandateTest${String(++mandateCount).padStart(8, "0")}`,
    symbol: "NVDA",
    side: "buy",
    max_per_trade: "500.00",
    max_per_day: "2000.00",
    currency: "USD",
    expires_at: new Date(Date.now() + 7 * 86_400_000).toISOString(),
    ...overrides,
  };
}

async function requestMandate(details: unknown[], scope = "openid stock:read stock:trade offline_access") {
  return oidc.initiateBackchannelAuthentication(agent, {
    scope,
    login_hint: "alice@example.com",
    binding_message: "MANDATE NVDA 500.00 per trade 2000.00 per day #M7Q2",
    authorization_details: JSON.stringify(details),
    actor_token: await agentToken(agent),
    actor_token_type: ACCESS_TOKEN_TYPE,
  });
}

/** Alice opens the approval page of the request, signs in, reads what she is asked, and decides. */
async function decide(authReqId: string, decision: "approve" | "deny") {
  const [row] = await db.query<{ handle: string }>("SELECT handle FROM idp_approvals WHERE auth_req_id = $1", [authReqId]);
  const alice = new ApprovalPageUser();
  const page = `${base}/oidc/approve/${row!.handle}`;
  await alice.open(page);
  const signedIn = await alice.post(`${page}/sign-in`, { csrf: alice.csrf, username: "alice@example.com", password: PASSWORD, decision });
  expect(signedIn.status).toBe(303);
  const review = await alice.open(page);
  const decided = await alice.post(`${page}/decision`, { csrf: alice.csrf, decision });
  expect(decided.status).toBe(303);
  return { review: review.html, result: (await alice.open(page)).html };
}

async function verify(token: string) {
  const { createRemoteJWKSet, jwtVerify } = await import("jose");
  return (await jwtVerify(token, createRemoteJWKSet(new URL(`${base}/oidc/jwks`)), { issuer: `${base}/oidc` })).payload as Record<string, unknown>;
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startEmbeddedIdp({ config: inProcessIdpConfig(base, { EMBEDDED_IDP_PORT: String(port) }), db });
  agent = await oidc.discovery(new URL(`${base}/oidc`), AGENT_CLIENT_ID, undefined, oidc.ClientSecretBasic(AGENT_SECRET), { execute: [oidc.allowInsecureRequests] });
});

afterAll(async () => {
  await idp?.stop();
});

describe("refused mandate requests", () => {
  it("refuses an expired mandate, a malformed one, and a mandate beside an order (invalid_authorization_details)", async () => {
    const past = mandate({ expires_at: new Date(Date.now() - 60_000).toISOString() });
    expect(await oauthError(requestMandate([past]))).toMatchObject({ error: "invalid_authorization_details" });
    expect(await oauthError(requestMandate([mandate({ max_per_trade: "5000.00" })]))).toMatchObject({ error: "invalid_authorization_details" });
    expect(await oauthError(requestMandate([mandate({ note: "x" })]))).toMatchObject({ error: "invalid_authorization_details" });
    expect(await oauthError(requestMandate([mandate(), order()]))).toMatchObject({ error: "invalid_authorization_details" });
    const [row] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM idp_approvals");
    expect(row!.n).toBe(0);
  });
});

describe("a mandate Alice approves on the approval page", () => {
  it("shows her the limits, and yields short-lived tokens carrying the mandate, drawn again with the refresh token", async () => {
    const detail = mandate();
    const ack = await requestMandate([detail]);
    const pages = await decide(ack.auth_req_id, "approve");
    expect(pages.review).toContain('data-testid="mandate-max-per-trade">500.00 USD');
    expect(pages.review).toContain('data-testid="mandate-max-per-day">2,000.00 USD');
    expect(pages.review).toContain(detail.mandate_id as string);
    expect(pages.review).toContain("within the standing limits below");
    expect(pages.review).not.toContain("this one order only");
    expect(pages.review).not.toContain("Place this one trade");
    expect(pages.result).toContain('data-status="approved"');

    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, ack);
    expect(tokens.authorization_details).toEqual([detail]);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.expires_in).toBeLessThanOrEqual(600);
    const first = await verify(tokens.access_token);
    expect(first).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, client_id: AGENT_CLIENT_ID, authorization_details: [detail] });

    const refreshed = await oidc.refreshTokenGrant(agent, tokens.refresh_token!);
    const second = await verify(refreshed.access_token);
    expect(second).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, authorization_details: [detail] });
    expect(second.jti).not.toBe(first.jti);
    expect(String(second.scope).split(" ")).toContain("stock:trade");
    // Rotated on every use: the agent stores the new one (lib/agent/mandate-grant-vault.ts).
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

    // Revoked at the server: the grant's refresh token draws nothing more.
    expect(await idp.revokeGrantOfRequest(ack.auth_req_id, "test")).toBe("revoked");
    expect(await oauthError(oidc.refreshTokenGrant(agent, refreshed.refresh_token!))).toMatchObject({ error: "invalid_grant" });
  });

  it("rotates the mandate's refresh token on every use: presenting a spent one is refused and ends the grant", async () => {
    const ack = await requestMandate([mandate()]);
    await decide(ack.auth_req_id, "approve");
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, ack);
    const rotated = await oidc.refreshTokenGrant(agent, tokens.refresh_token!);
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    // A copy of the spent token (an old backup of the agent's store) is refused...
    expect(await oauthError(oidc.refreshTokenGrant(agent, tokens.refresh_token!))).toMatchObject({ error: "invalid_grant" });
    // ...and its reuse revoked the grant: the current token draws nothing either.
    expect(await oauthError(oidc.refreshTokenGrant(agent, rotated.refresh_token!))).toMatchObject({ error: "invalid_grant" });
  });

  it("issues no refresh token for the approval of one order, whatever scope was asked", async () => {
    const detail = order();
    const ack = await oidc.initiateBackchannelAuthentication(agent, {
      scope: "openid stock:read stock:trade offline_access",
      login_hint: "alice@example.com",
      binding_message: "BUY 38 NVDA max 131.20 USD #K7Q2",
      authorization_details: JSON.stringify([detail]),
    });
    await decide(ack.auth_req_id, "approve");
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agent, ack);
    expect(tokens.authorization_details).toEqual([detail]);
    expect(tokens.refresh_token).toBeUndefined();
  });
});
