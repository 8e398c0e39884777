import * as oidc from "openid-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort, startApp, type AppServer } from "../helpers/app-server";
import { expectOneWinner, redeemAtOnce } from "./ciba-redemption-burst";
import {
  ACCESS_TOKEN_TYPE,
  agentToken,
  ApprovalPageUser,
  cibaParams,
  clientFor,
  idpEnv,
  mailForOrder,
  order,
  pollOnce,
} from "../integration/idp-support";

/**
 * An approved auth_req_id is single-use (CIBA Core §10.1, §11 invalid_grant), also when it is
 * redeemed ten times at once: against the embedded server over real HTTP, through the /oidc
 * proxy and at the server's own loopback listener, exactly one of ten concurrent token requests
 * gets the on-behalf-of token and the other nine get invalid_grant; a later one is refused too.
 */
let server: AppServer;
let agent: oidc.Configuration;
let idpPort: number;

beforeAll(async () => {
  idpPort = await freePort();
  // The app's own agent stays off: only this test's requests reach the identity server.
  server = await startApp(idpEnv({ AGENT_ENABLED: "false", EMBEDDED_IDP_PORT: String(idpPort) }));
  agent = await clientFor(server);
});

afterAll(async () => {
  await server?.stop();
});

/** A CIBA request for a fresh order, approved by Alice on the approval page. */
async function approvedRequest(): Promise<{ detail: ReturnType<typeof order>; authReqId: string }> {
  const detail = order();
  const ack = await oidc.initiateBackchannelAuthentication(agent, {
    ...cibaParams(detail),
    actor_token: await agentToken(agent),
    actor_token_type: ACCESS_TOKEN_TYPE,
  });
  const mail = await mailForOrder(server, detail.order_id as string);
  const approved = await new ApprovalPageUser().decide(mail.links.approve, "approve");
  expect(approved.html).toContain('data-status="approved"');
  return { detail, authReqId: ack.auth_req_id };
}

it("gives one token to ten concurrent redemptions through /oidc, invalid_grant to the other nine", async () => {
  const { detail, authReqId } = await approvedRequest();
  await expectOneWinner(server.url, await redeemAtOnce(`${server.url}/oidc/token`, authReqId, 10), detail);
  // And once more, afterwards.
  expect(await pollOnce(server, authReqId)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
});

it("gives one token to ten concurrent redemptions at the server's own listener (no proxy in between)", async () => {
  const { detail, authReqId } = await approvedRequest();
  await expectOneWinner(server.url, await redeemAtOnce(`http://127.0.0.1:${idpPort}/oidc/token`, authReqId, 10), detail);
  expect(await pollOnce(server, authReqId)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
});
