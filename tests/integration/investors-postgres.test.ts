import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type Db } from "@/lib/store/db";
import { sleep, waitUntil } from "../helpers/agent-app";
import { Alice } from "../helpers/agent-alice";
import { startCluster, type Cluster } from "../helpers/cluster";

/**
 * Three investors, three instances of the built app, one real PostgreSQL, one public URL: every
 * investor's agent runs on exactly one instance (its lease), asks its own investor once when the
 * shared market crashes (one order, one CIBA request, one mail to her address), and after she
 * approves from her mail trades once, for her. Real HTTP, the real embedded identity server.
 */
const INVESTORS = [
  { sub: "alice", email: "alice@example.com", password: "alice-test-password-1" },
  { sub: "bob", email: "bob@example.com", password: "bob-test-password-1" },
  { sub: "carol", email: "carol@example.com", password: "carol-test-password-1" },
];

let cluster: Cluster;
let db: Db;

const byUser = async (sql: string) =>
  Object.fromEntries((await db.query<{ who: string; n: number }>(sql)).map((r) => [r.who, Number(r.n)]));

describe("three investors on three instances", () => {
  beforeAll(async () => {
    cluster = await startCluster(3, {
      PRICE_THRESHOLD: "148.00",
      MARKET_TICK_MS: "250",
      CIBA_INTERVAL_SECONDS: "1",
      INVESTOR_PASSWORD: INVESTORS[0]!.password,
      INVESTORS: INVESTORS.slice(1).map((i) => `${i.sub}:${i.sub[0]!.toUpperCase()}${i.sub.slice(1)}:${i.email}:${i.password}`).join(","),
    });
    db = await openDb({ databaseUrl: cluster.pg.url, dataDir: "unused" });
  }, 240_000);

  afterAll(async () => {
    await db?.close();
    await cluster?.close();
  });

  it("runs each investor's agent on exactly one instance", async () => {
    const owners = await waitUntil(
      async () => (await Promise.all(cluster.apps.map((a) => cluster.health(a)))).flatMap((h) => h?.instance.agents.map((a) => a.investor) ?? []),
      (agents) => agents.length === 3,
      30_000,
      "three agents running",
    );
    expect(owners.sort()).toEqual(["alice", "bob", "carol"]);
  });

  it("asks each investor once after one crash, and trades once for each after she approves", async () => {
    // Every agent has its token and watches before the crash.
    await waitUntil(() => db.query<{ n: number }>("SELECT count(*)::int AS n FROM agent_state WHERE agent_token_claims IS NOT NULL"), (r) => Number(r[0]!.n) === 3, 60_000, "three agent tokens");
    const crash = await fetch(`${cluster.lb.url}/api/market/crash`, { method: "POST", headers: { origin: cluster.lb.url } });
    expect(crash.status).toBe(200);
    const mails = await waitUntil(
      () => db.query<{ to_address: string; links: Record<string, string> }>("SELECT to_address, links FROM idp_mailbox ORDER BY seq"),
      (rows) => rows.length >= 3,
      60_000,
      "three approval mails",
    );
    // A moment more: a second request to anyone would show now.
    await sleep(2000);
    expect(await byUser("SELECT user_sub AS who, count(*) AS n FROM orders GROUP BY user_sub")).toEqual({ alice: 1, bob: 1, carol: 1 });
    expect(await byUser("SELECT o.user_sub AS who, count(*) AS n FROM pending_approvals p JOIN orders o USING (order_id) GROUP BY o.user_sub")).toEqual({ alice: 1, bob: 1, carol: 1 });
    expect(await byUser("SELECT to_address AS who, count(*) AS n FROM idp_mailbox GROUP BY to_address")).toEqual(
      Object.fromEntries(INVESTORS.map((i) => [i.email, 1])),
    );
    // The CIBA request of each names her account.
    expect(await byUser("SELECT account_id AS who, count(*) AS n FROM idp_approvals GROUP BY account_id")).toEqual({ alice: 1, bob: 1, carol: 1 });

    // Another investor's password does not open her approval page.
    const bobOnAlices = new Alice(cluster.lb.url, "bob@example.com", INVESTORS[1]!.password);
    await expect(bobOnAlices.open(mails.find((m) => m.to_address === "alice@example.com")!.links.approve!)).rejects.toThrow(/answered 401/);

    for (const investor of INVESTORS) {
      const mail = (await db.query<{ links: Record<string, string> }>("SELECT links FROM idp_mailbox WHERE to_address = $1", [investor.email]))[0]!;
      const page = await new Alice(cluster.lb.url, investor.email, investor.password).decide(mail.links.approve!, "approve");
      expect(page).toContain('data-status="approved"');
    }
    const trades = await waitUntil(
      () => byUser("SELECT user_sub AS who, count(*) AS n FROM trades GROUP BY user_sub"),
      (t) => Object.keys(t).length === 3,
      60_000,
      "a trade for each investor",
    );
    expect(trades).toEqual({ alice: 1, bob: 1, carol: 1 });
    // Each trade is for the investor whose order it executes, by the agent.
    const rows = await db.query<{ user_sub: string; order_user: string; actor_sub: string | null }>(
      "SELECT t.user_sub, o.user_sub AS order_user, t.actor_sub FROM trades t JOIN orders o USING (order_id)",
    );
    for (const r of rows) expect(r.user_sub).toBe(r.order_user);
    expect(new Set(rows.map((r) => r.actor_sub))).toEqual(new Set(["aurelius"]));
  });
});
