import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendAudit, readChain } from "@/lib/audit/chain";
import { exportLine } from "@/lib/audit/record";
import { verifyChain } from "@/lib/audit/verify";
import { openDb, type Db } from "@/lib/store/db";
import { migrate } from "@/lib/store/migrate";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres";

/**
 * Concurrent appends on a real PostgreSQL server, where they run on separate connections at the
 * same time (PGlite runs one transaction at a time and cannot show it): two pools, as two app
 * instances, append at once, some inside a caller's transaction, the others in each instance's
 * group commits (several records per transaction); every append succeeds and the result is one
 * chain. Without the advisory lock two writers read the same head, and one fails on the unique
 * seq or the chain forks.
 */
let pg: TestPostgres;
let a: Db;
let b: Db;

describe("the audit chain on PostgreSQL", () => {
  beforeAll(async () => {
    pg = await startTestPostgres();
    a = await openDb({ databaseUrl: pg.url, dataDir: "unused" });
    b = await openDb({ databaseUrl: pg.url, dataDir: "unused" });
    await migrate(a);
  }, 180_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await pg?.stop();
  });

  it("keeps one chain when two instances append at once", async () => {
    const appends = Array.from({ length: 200 }, (_, i) => {
      const db = i % 2 ? a : b;
      const entry = { source: "resource_server" as const, event: "trade.refused", decision: "refused", orderId: `ord_${i}`, sub: "alice", act: { sub: "aurelius" } };
      return i % 3 ? appendAudit(db, entry) : db.transaction(async (tx) => appendAudit(tx, entry));
    });
    const results = await Promise.allSettled(appends);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const lines: string[] = [];
    for await (const r of readChain(a)) lines.push(exportLine(r));
    expect(lines).toHaveLength(200);
    expect(verifyChain(lines)).toMatchObject({ ok: true, count: 200 });
  });
});
