import * as oidc from "openid-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startEmbeddedIdp, type EmbeddedIdp } from "@/lib/idp";
import { getMail, listMail } from "@/lib/idp/mailbox";
import type { Db, Queryable } from "@/lib/store/db";
import { freePort } from "../helpers/app-server";
import { useTestDb } from "../helpers/store";
import { expectOneWinner, redeemAtOnce } from "./ciba-redemption-burst";
import {
  ACCESS_TOKEN_TYPE,
  AGENT_CLIENT_ID,
  AGENT_SECRET,
  ApprovalPageUser,
  CIBA_GRANT,
  cibaParams,
  inProcessIdpConfig,
  order,
  postForm,
} from "../integration/idp-support";

/**
 * An approved auth_req_id is single-use even when the store is slow to answer, as PostgreSQL
 * over a network or several app instances on one database are: ten concurrent token requests
 * then all read the request before any of them marks it consumed. oidc-provider checks
 * `consumed` on what it read and then calls the adapter's consume(), so only the adapter can
 * decide, atomically, which request wins: exactly one token, invalid_grant for the other nine.
 *
 * The embedded server runs in-process on a store whose reads of oidc-provider's models answer
 * 50 ms late, and is reached over real HTTP at its own listener (PUBLIC_URL points there, so the
 * approval link in the mail does too).
 */
const READ_DELAY_MS = 50;
const db = useTestDb();
let idp: EmbeddedIdp;
let base: string;

/**
 * Where the store's delay falls: "after" a read ran (every request reads the request unused, then
 * all try to consume it), or "before" it runs (a late request reads it already consumed while the
 * winner is still issuing its token).
 */
let delayed: "after" | "before" = "after";

/** The store, with every read of idp_models delayed by READ_DELAY_MS, before or after it runs. */
function slowReads(inner: Db): Db {
  const isModelRead = (sql: string) => /^\s*SELECT\b[\s\S]*\bFROM idp_models\b/i.test(sql);
  const pause = () => new Promise((r) => setTimeout(r, READ_DELAY_MS));
  const delay = async <T>(sql: string, work: () => Promise<T>): Promise<T> => {
    if (!isModelRead(sql)) return work();
    if (delayed === "before") await pause();
    const result = await work();
    if (delayed === "after") await pause();
    return result;
  };
  const wrap = (q: Queryable): Queryable => ({ query: (sql, params) => delay(sql, () => q.query(sql, params)) });
  return { ...inner, ...wrap(inner), transaction: (work) => inner.transaction((tx) => work(wrap(tx))) };
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startEmbeddedIdp({ config: inProcessIdpConfig(base, { EMBEDDED_IDP_PORT: String(port) }), db: slowReads(db) });
});

afterAll(async () => {
  await idp?.stop();
});

it.each(["after", "before"] as const)("gives one token to ten concurrent redemptions of one approved auth_req_id, invalid_grant to the other nine (reads delayed %s they run)", async (mode) => {
  delayed = mode;
  const agent = await oidc.discovery(new URL(`${base}/oidc`), AGENT_CLIENT_ID, undefined, oidc.ClientSecretBasic(AGENT_SECRET), {
    execute: [oidc.allowInsecureRequests],
  });
  const detail = order();
  const actor = (await oidc.clientCredentialsGrant(agent, { scope: "openid stock:read" })).access_token;
  const ack = await oidc.initiateBackchannelAuthentication(agent, { ...cibaParams(detail), actor_token: actor, actor_token_type: ACCESS_TOKEN_TYPE });
  const [summary] = await listMail(db, 1);
  const mail = await getMail(db, summary!.id);
  expect(mail!.text).toContain(detail.order_id);
  const approved = await new ApprovalPageUser().decide(mail!.links.approve!, "approve");
  expect(approved.html).toContain('data-status="approved"');

  await expectOneWinner(base, await redeemAtOnce(`${base}/oidc/token`, ack.auth_req_id, 10), detail);
  const again = await postForm(`${base}/oidc/token`, { grant_type: CIBA_GRANT, auth_req_id: ack.auth_req_id });
  expect(again).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
}, 60_000);
