import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { ensurePortfolio } from "@/lib/ledger/portfolio";
import { executeTrade } from "@/lib/ledger/trades";
import type { Principal } from "@/lib/protected-resource/principal";
import { openDb, type Db } from "@/lib/store/db";
import { migrate } from "@/lib/store/migrate";
import { ProtocolError } from "@/lib/errors";
import { authorizeUnderMandate } from "@/mcp/standing-mandate";
import { insertSealedGrant } from "@/lib/store/mandate-grants";
import { recordMandateRevoked, revokeAgentMandates } from "@/lib/store/standing-mandates";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres";

/**
 * The daily amount of a standing mandate under real concurrency: two app instances (two
 * connection pools) on one PostgreSQL, each running trades under the same mandate at once, each
 * trade's check and spend inside its own transaction as /mcp runs them. PGlite runs one
 * transaction at a time and cannot show a race; here the mandate row's lock is what keeps the
 * total within the cap.
 */
let pg: TestPostgres;
let a: Db;
let b: Db;
const MANDATE = "mdt_PostgresRace00000001";
const PRICE = 10_000; // $100.00 a share
const EXPIRES = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000);
const mandate = { mandateId: MANDATE, symbol: "NVDA", maxPerTradeCents: 2 * PRICE, maxPerDayCents: 5 * PRICE, expiresAt: EXPIRES };
const principal = { sub: "alice", actor: "aurelius" } as Principal;

beforeAll(async () => {
  pg = await startTestPostgres();
  a = await openDb({ databaseUrl: pg.url, dataDir: "unused" });
  b = await openDb({ databaseUrl: pg.url, dataDir: "unused" });
  await migrate(a);
  await ensurePortfolio(a, "alice", "Alice", 100_000_000);
}, 180_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await pg?.stop();
});

beforeEach(async () => {
  for (const table of ["mandate_grants", "mandate_spend", "mandates", "trades", "spent_authorizations"]) await a.query(`DELETE FROM ${table}`);
  await a.query(
    `INSERT INTO mandates (mandate_id, user_sub, agent_sub, symbol, max_per_trade_cents, max_per_day_cents, expires_at, status)
     VALUES ($1, 'alice', 'aurelius', 'NVDA', $2, $3, $4, 'granted')`,
    [MANDATE, mandate.maxPerTradeCents, mandate.maxPerDayCents, EXPIRES.toISOString()],
  );
});

async function tradeUnderMandate(db: Db, i: number): Promise<"executed" | string> {
  try {
    await executeTrade(
      db,
      { userSub: "alice", actorSub: "aurelius", orderId: `ord_PostgresRace${String(i).padStart(10, "0")}`, tokenJti: `jti-pg-${i}`, symbol: "NVDA", side: "buy", quantity: 2, priceCents: PRICE, bindingRule: "mandate" },
      {
        before: async (tx) => {
          const granted = await authorizeUnderMandate(tx, principal, mandate, 2 * PRICE, new Date());
          if (!granted.ok) throw new ProtocolError(granted.code, granted.message, { status: 403 });
        },
      },
    );
    return "executed";
  } catch (error) {
    if (error instanceof ProtocolError) return error.code;
    throw error;
  }
}

it("lets 40 trades racing from two instances spend at most the daily amount", async () => {
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => tradeUnderMandate(i % 2 ? a : b, i)));
  // $500 a day, $200 a trade: two trades fit.
  expect(results.filter((r) => r === "executed")).toHaveLength(2);
  expect(results.filter((r) => r !== "executed").every((r) => r === "mandate_daily_limit_exceeded")).toBe(true);
  const [spend] = await a.query<{ spent_cents: string | number; trades: number }>("SELECT spent_cents, trades FROM mandate_spend WHERE mandate_id = $1", [MANDATE]);
  expect(Number(spend!.spent_cents)).toBe(4 * PRICE);
  const [traded] = await a.query<{ total: string | number }>("SELECT coalesce(sum(notional_cents), 0) AS total FROM trades");
  expect(Number(traded!.total)).toBe(4 * PRICE);
}, 60_000);

it("refuses every racing trade once the mandate is revoked in between", async () => {
  await a.query("UPDATE mandates SET status = 'revoked' WHERE mandate_id = $1", [MANDATE]);
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => tradeUnderMandate(i % 2 ? a : b, 100 + i)));
  expect(results).toEqual(Array(6).fill("mandate_revoked"));
  expect((await a.query("SELECT 1 FROM trades")).length).toBe(0);
});

/**
 * The agent stores its sealed hold on the grant while Alice revokes the mandate on another
 * instance: whichever comes first, no hold is left for a revoked mandate. The store is paused
 * inside the agent's transaction, after its INSERT and before its COMMIT: the worst moment.
 */
it.each([
  ["Alice revokes the mandate", (db: Db) => recordMandateRevoked(db, MANDATE, "alice")],
  ["the kill switch revokes every mandate of the agent", (db: Db) => revokeAgentMandates(db, "aurelius")],
] as const)("leaves no sealed hold behind when %s while the agent stores it", async (_name, revoke) => {
  let revoked: Promise<unknown> | undefined;
  await a.transaction(async (tx) => {
    expect(await insertSealedGrant(tx, "aurelius", MANDATE, "sealed-hold")).toBe(true);
    revoked = revoke(b);
    // The revocation runs while the hold is stored but not committed.
    await new Promise((resolve) => setTimeout(resolve, 300));
  });
  await revoked;
  expect((await a.query<{ status: string }>("SELECT status FROM mandates WHERE mandate_id = $1", [MANDATE]))[0]!.status).toBe("revoked");
  expect(await a.query("SELECT mandate_id FROM mandate_grants")).toEqual([]);
  // Revoked first: the hold is not stored at all.
  expect(await insertSealedGrant(a, "aurelius", MANDATE, "sealed-hold")).toBe(false);
  expect(await a.query("SELECT mandate_id FROM mandate_grants")).toEqual([]);
});
