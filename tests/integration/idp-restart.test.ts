import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { ApprovalPageUser, cibaParams, clientFor, idpEnv, mailForOrder, oauthError, order, pollOnce, verifyAccessToken } from "./idp-support";

/**
 * What must outlive a restart of the app (pending CIBA requests, keys, secrets — all in the store),
 * and the guards that need a server of their own: the pending-request limit per user and the
 * sign-in rate limit.
 */
let server: AppServer;

beforeAll(async () => {
  server = await startApp(idpEnv({ MAX_PENDING_APPROVALS: "2" }));
});

afterAll(async () => {
  await server?.stop();
});

describe("restart", () => {
  it("keeps a pending request, which can then be approved and redeemed", async () => {
    const agent = await clientFor(server);
    const detail = order();
    const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(detail));
    const mail = await mailForOrder(server, detail.order_id as string);
    const keysBefore = await (await fetch(`${server.url}/oidc/jwks`)).json();

    await server.restart();

    expect(await (await fetch(`${server.url}/oidc/jwks`)).json()).toEqual(keysBefore);
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("authorization_pending");
    const result = await new ApprovalPageUser().decide(mail.links.approve, "approve");
    expect(result.html).toContain('data-status="approved"');
    const tokens = await oidc.pollBackchannelAuthenticationGrant(await clientFor(server), ack);
    const { payload } = await verifyAccessToken(server, tokens.access_token);
    expect(payload).toMatchObject({ sub: "alice", authorization_details: [detail] });
    // Consumed ids are remembered too.
    expect((await pollOnce(server, ack.auth_req_id)).body.error).toBe("invalid_grant");
  });
});

describe("approval-bombing guard", () => {
  it("refuses more pending requests per user than MAX_PENDING_APPROVALS, with a clear error", async () => {
    const agent = await clientFor(server);
    const first = order();
    const second = order();
    await oidc.initiateBackchannelAuthentication(agent, cibaParams(first));
    await oidc.initiateBackchannelAuthentication(agent, cibaParams(second));
    const third = await oauthError(oidc.initiateBackchannelAuthentication(agent, cibaParams(order())));
    expect(third.error).toBe("access_denied");
    expect(third.description).toMatch(/too many pending approval requests/);

    // Deciding one frees a slot.
    await new ApprovalPageUser().decide((await mailForOrder(server, first.order_id as string)).links.deny, "deny");
    const again = await oidc.initiateBackchannelAuthentication(agent, cibaParams(order()));
    expect(again.auth_req_id).toEqual(expect.any(String));
    // Leave at most one pending for the tests after this one.
    await new ApprovalPageUser().decide((await mailForOrder(server, second.order_id as string)).links.deny, "deny");
  });
});

describe("sign-in rate limit", () => {
  it("after three wrong passwords asks for a short wait, also for the right password, then lets it in", async () => {
    const detail = order();
    await oidc.initiateBackchannelAuthentication(await clientFor(server), cibaParams(detail));
    const mail = await mailForOrder(server, detail.order_id as string);
    const alice = new ApprovalPageUser();
    await alice.open(mail.links.approve);
    for (let i = 0; i < 3; i++) {
      const wrong = await alice.post(`${mail.links.approve}/sign-in`, { csrf: alice.csrf, username: "alice@example.com", password: `wrong-${i}` });
      expect(wrong.status).toBe(401);
    }
    // The user id names the same account as the email: no fresh attempts by switching.
    const waiting = await alice.post(`${mail.links.approve}/sign-in`, { csrf: alice.csrf, username: "alice", password: "correct horse battery staple" });
    expect(waiting.status).toBe(429);
    expect(waiting.html).toContain("Too many sign-in attempts. Try again in 1 second.");
    await new Promise((r) => setTimeout(r, 1100));
    const signedIn = await alice.post(`${mail.links.approve}/sign-in`, { csrf: alice.csrf, username: "alice", password: "correct horse battery staple" });
    expect(signedIn.status).toBe(303);
  });
});
