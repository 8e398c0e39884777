import { asInvestor } from "../helpers/investor-session";
import * as oidc from "openid-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { cibaParams, clientFor, idpEnv, oauthError, order, OTHER_CLIENT, pollOnce } from "../integration/idp-support";

/**
 * Starving the agent of approval slots. The embedded server limits the CIBA requests pending for
 * one user (MAX_PENDING_APPROVALS); if that count were per user only, any other client allowed to
 * use CIBA (here IDP_TEST_CLIENT) could fill Alice's slots and the agent could never ask her.
 * Counted per client and user, the other client fills only its own share.
 */
const LIMIT = 2;
let app: AppServer;
let agent: oidc.Configuration;
let other: oidc.Configuration;

beforeAll(async () => {
  app = await startApp(idpEnv({ AGENT_ENABLED: "false", MAX_PENDING_APPROVALS: String(LIMIT) }));
  [agent, other] = await Promise.all([clientFor(app), clientFor(app, OTHER_CLIENT.id, OTHER_CLIENT.secret)]);
});

afterAll(async () => {
  await app?.stop();
});

it("another client that fills its slots for Alice does not starve the agent, and its next request is refused", async () => {
  const filled = [];
  for (let i = 0; i < LIMIT; i++) filled.push(await oidc.initiateBackchannelAuthentication(other, cibaParams(order())));
  expect(filled.map((ack) => typeof ack.auth_req_id)).toEqual(Array(LIMIT).fill("string"));

  // The agent still gets its request through, and it is a live, pending one.
  const ack = await oidc.initiateBackchannelAuthentication(agent, cibaParams(order()));
  expect((await pollOnce(app, ack.auth_req_id)).body.error).toBe("authorization_pending");

  // The other client is over its own limit: access_denied (CIBA Core §13), and nothing is created.
  const refused = await oauthError(oidc.initiateBackchannelAuthentication(other, cibaParams(order())));
  expect(refused).toMatchObject({ error: "access_denied", status: 400 });
  expect(refused.description).toMatch(/too many pending approval requests from this client/);
  const mails = (await (await asInvestor(app.url, "/api/inbox")).json()) as { messages: unknown[] };
  expect(mails.messages).toHaveLength(LIMIT + 1);

  // The agent has its own share: it can fill it up, and is then refused the same way.
  for (let i = 1; i < LIMIT; i++) await oidc.initiateBackchannelAuthentication(agent, cibaParams(order()));
  expect((await oauthError(oidc.initiateBackchannelAuthentication(agent, cibaParams(order())))).error).toBe("access_denied");
});
