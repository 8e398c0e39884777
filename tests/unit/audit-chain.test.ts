import { describe, expect, it } from "vitest";
import { canonicalize } from "@/lib/audit/canonical-json";
import { appendAudit, readChain, readHead } from "@/lib/audit/chain";
import { exportLine, GENESIS_HASH, hashRecord, type AuditSource, type ChainRecord } from "@/lib/audit/record";
import type { Db } from "@/lib/store/db";
import { AuditHeadReader } from "@/lib/audit/head";
import { verifyChain } from "@/lib/audit/verify";
import { emptyTables, useTestDb } from "../helpers/store";

/**
 * The audit chain from an attacker's side: every way of editing an export (a changed field, a
 * removed record, two records swapped, a record appended with a forged hash, an edited
 * prev_hash) fails verification naming the record; an untouched export verifies; concurrent
 * appends still make one chain.
 */

const db = useTestDb((d) => emptyTables(d));

async function appendSome(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await appendAudit(db, {
      source: i % 2 ? "agent" : "resource_server",
      event: i % 2 ? "order.frozen" : "trade.refused",
      decision: i % 2 ? "frozen" : "refused",
      reason: `case ${i}`,
      sub: "alice",
      act: { sub: "aurelius" },
      orderId: `ord_${i}`,
    });
  }
}

async function exportLines(): Promise<string[]> {
  const lines: string[] = [];
  for await (const r of readChain(db, 3)) lines.push(exportLine(r));
  return lines;
}

const edit = (line: string, change: (r: Record<string, unknown>) => void): string => {
  const r = JSON.parse(line) as Record<string, unknown>;
  change(r);
  return JSON.stringify(r);
};

describe("canonical JSON (RFC 8785)", () => {
  it("refuses what has no JSON form", () => {
    expect(() => canonicalize(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalize(Infinity)).toThrow(TypeError);
    expect(() => canonicalize(1n)).toThrow(TypeError);
    expect(() => canonicalize(new Date(0))).toThrow(TypeError);
    expect(() => canonicalize("\uD800")).toThrow(TypeError);
    expect(() => canonicalize({ k: "a\uDC00" })).toThrow(TypeError);
  });

  it("sorts keys by UTF-16 code units at every level, without whitespace", () => {
    // RFC 8785 §3.2.3's sorting example: code units, not code points ("\u{1F600}" sorts before "\uFB33").
    const sorted = canonicalize({ "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\u{1F600}": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis" });
    // (read off the string: JSON.parse would list the integer-like key "1" first)
    expect([...sorted.matchAll(/:"([^"]+)"/g)].map((m) => m[1])).toEqual(["Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"]);
    expect(canonicalize({ b: [1, { d: true, c: null }], a: "x", u: undefined })).toBe('{"a":"x","b":[1,{"c":null,"d":true}]}');
  });

  it("writes numbers and strings as ECMAScript does (RFC 8785 §3.2.2)", () => {
    expect(canonicalize([333333333.33333329, 1e30, 4.5e-7, 0.000001, -0, 1e21, 9007199254740991])).toBe("[333333333.3333333,1e+30,4.5e-7,0.000001,0,1e+21,9007199254740991]");
    expect(canonicalize("\u20ac$\u000f\nA'B\"\\\\\"/")).toBe('"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
  });
});

describe("the audit chain", () => {
  it("chains each record onto the one before, from the genesis hash", async () => {
    await appendSome(3);
    const chain: ChainRecord[] = [];
    for await (const r of readChain(db)) chain.push(r);
    expect(chain.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(chain[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(chain[1]!.prev_hash).toBe(chain[0]!.hash);
    expect(chain[2]!.prev_hash).toBe(chain[1]!.hash);
    for (const r of chain) expect(hashRecord(r)).toBe(r.hash);
    expect((await readHead(db))?.hash).toBe(chain[2]!.hash);
  });

  it("keeps one chain under concurrent appends", async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2
          ? appendAudit(db, { source: "agent", event: "order.frozen", decision: "frozen", orderId: `c${i}` })
          : db.transaction(async (tx) => {
              await tx.query("SELECT 1");
              return appendAudit(tx, { source: "resource_server", event: "trade.refused", decision: "refused", orderId: `c${i}` });
            }),
      ),
    );
    const lines = await exportLines();
    expect(lines).toHaveLength(40);
    expect(verifyChain(lines)).toEqual({ ok: true, count: 40, head: { seq: 40, hash: (await readHead(db))!.hash } });
  });

  it("writes concurrent appends in groups, each answered with its own committed record", async () => {
    let writes = 0;
    const counting: Db = { ...db, engine: db.engine, query: (sql, params) => (writes++, db.query(sql, params)), transaction: (w) => db.transaction(w) };
    const records = await Promise.all(
      Array.from({ length: 30 }, (_, i) => appendAudit(counting, { source: "resource_server", event: "tool.allowed", decision: "allowed", reason: `call ${i}` })),
    );
    expect(records.map((r) => r.reason)).toEqual(Array.from({ length: 30 }, (_, i) => `call ${i}`));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // One statement for the group (after one read of the head), not one transaction per append.
    expect(writes).toBeLessThanOrEqual(2);
    const stored = (await exportLines()).map((l) => JSON.parse(l) as ChainRecord);
    expect(stored.map((r) => r.hash)).toEqual(records.map((r) => r.hash));
  });

  it("chains onto a record written behind the group's back, in a caller's transaction", async () => {
    await appendSome(2);
    await db.transaction((tx) => appendAudit(tx, { source: "resource_server", event: "trade.executed", decision: "allowed" }));
    await appendSome(2);
    const lines = await exportLines();
    expect(lines.map((l) => (JSON.parse(l) as ChainRecord).event)).toEqual(["trade.refused", "order.frozen", "trade.executed", "trade.refused", "order.frozen"]);
    expect(verifyChain(lines)).toMatchObject({ ok: true, count: 5 });
  });

  it("refuses a bad append alone: the others of its group are written", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        appendAudit(db, { source: (i === 2 ? "mallory" : "agent") as AuditSource, event: "order.frozen", decision: "frozen", orderId: `g${i}` }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled"]);
    const lines = await exportLines();
    expect(lines.map((l) => (JSON.parse(l) as ChainRecord).order_id)).toEqual(["g0", "g1", "g3", "g4", "g5"]);
    expect(verifyChain(lines)).toMatchObject({ ok: true, count: 5 });
  });

  it("refuses the whole group when its write fails for another reason (the connection): nothing is written twice", async () => {
    let failNext = true;
    // The group's write reaches the store and commits, then the answer is lost on the way back.
    const flaky: Db = {
      ...db,
      engine: db.engine,
      query: (async (sql: string, params?: unknown[]) => {
        const result = await db.query(sql, params);
        if (failNext && /INSERT/i.test(sql)) {
          failNext = false;
          throw new Error("Connection terminated unexpectedly");
        }
        return result;
      }) as Db["query"],
      transaction: (w) => db.transaction(w),
    };
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => appendAudit(flaky, { source: "agent", event: "order.frozen", decision: "frozen", orderId: `l${i}` })),
    );
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    const lines = await exportLines();
    const ids = lines.map((l) => (JSON.parse(l) as ChainRecord).order_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(verifyChain(lines)).toMatchObject({ ok: true });
  });

  it("rolls back with the caller's transaction, leaving no gap", async () => {
    await appendSome(1);
    await expect(
      db.transaction(async (tx) => {
        await appendAudit(tx, { source: "resource_server", event: "trade.executed", decision: "allowed" });
        throw new Error("the trade failed");
      }),
    ).rejects.toThrow("the trade failed");
    await appendSome(1);
    expect(verifyChain(await exportLines())).toMatchObject({ ok: true, count: 2 });
  });
});

describe("verify, against a tampered export", () => {
  it("an untouched export verifies", async () => {
    await appendSome(5);
    expect(verifyChain(await exportLines())).toMatchObject({ ok: true, count: 5, head: { seq: 5 } });
    expect(verifyChain([])).toEqual({ ok: true, count: 0, head: null });
  });

  it("a changed field names that record", async () => {
    await appendSome(5);
    const lines = await exportLines();
    lines[2] = edit(lines[2]!, (r) => (r.sub = "mallory"));
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 3, line: 3, problem: expect.stringContaining("record 3 was changed") });
  });

  it("a changed nested actor names that record", async () => {
    await appendSome(5);
    const lines = await exportLines();
    lines[0] = edit(lines[0]!, (r) => (r.act = { sub: "someone-else" }));
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 1, problem: expect.stringContaining("record 1 was changed") });
  });

  it("a removed record is named", async () => {
    await appendSome(5);
    const lines = await exportLines();
    lines.splice(1, 1);
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 2, problem: expect.stringContaining("record 2 was removed") });
  });

  it("a removed first record is named", async () => {
    await appendSome(3);
    const lines = await exportLines();
    lines.shift();
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 1, problem: expect.stringContaining("record 1 was removed") });
  });

  it("two swapped records are named", async () => {
    await appendSome(5);
    const lines = await exportLines();
    [lines[2], lines[3]] = [lines[3]!, lines[2]!];
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 3, line: 3, problem: expect.stringContaining("record 3 is out of order") });
  });

  it("two swapped records renumbered to hide it are named", async () => {
    await appendSome(5);
    const lines = await exportLines();
    const a = edit(lines[3]!, (r) => (r.seq = 3));
    const b = edit(lines[2]!, (r) => (r.seq = 4));
    lines[2] = a;
    lines[3] = b;
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 3, problem: expect.stringContaining("record 3 was changed") });
  });

  it("a record appended with a forged hash is named", async () => {
    await appendSome(3);
    const lines = await exportLines();
    const last = JSON.parse(lines[2]!) as ChainRecord;
    lines.push(JSON.stringify({ ...last, seq: 4, event: "trade.executed", decision: "allowed", prev_hash: last.hash, hash: "f".repeat(64) }));
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 4, line: 4, problem: expect.stringContaining("record 4 was changed") });
  });

  it("a record appended with a correctly computed hash is found by the head noted before", async () => {
    await appendSome(3);
    const lines = await exportLines();
    const head = (JSON.parse(lines[2]!) as ChainRecord).hash;
    const last = JSON.parse(lines[2]!) as ChainRecord;
    const forged = { ...last, seq: 4, event: "trade.executed", decision: "allowed", prev_hash: last.hash };
    lines.push(exportLine({ ...forged, hash: hashRecord(forged) }));
    expect(verifyChain(lines)).toMatchObject({ ok: true, count: 4 }); // consistent, yet:
    expect(verifyChain(lines, head)).toMatchObject({ ok: false, seq: 4, problem: expect.stringContaining("after the expected head") });
    expect(verifyChain(lines.slice(0, 2), head)).toMatchObject({ ok: false, problem: expect.stringContaining("not in the chain") });
    expect(verifyChain(lines.slice(0, 3), head)).toMatchObject({ ok: true, count: 3 });
  });

  it("an edited prev_hash names that record", async () => {
    await appendSome(5);
    const lines = await exportLines();
    lines[3] = edit(lines[3]!, (r) => (r.prev_hash = "a".repeat(64)));
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 4, problem: expect.stringContaining("record 4 was changed") });
  });

  it("a record rewritten with a recomputed hash breaks the link to the next one", async () => {
    await appendSome(5);
    const lines = await exportLines();
    const r = { ...(JSON.parse(lines[1]!) as ChainRecord), reason: "nothing to see" };
    lines[1] = exportLine({ ...r, hash: hashRecord(r) });
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: 3, problem: expect.stringContaining("record 3 does not follow record 2") });
  });

  it("a line that is not a record is named by its line", async () => {
    await appendSome(2);
    const lines = await exportLines();
    lines.splice(1, 0, "{not json");
    expect(verifyChain(lines)).toMatchObject({ ok: false, seq: null, line: 2, problem: "not a JSON line" });
    expect(verifyChain([edit(lines[0]!, (r) => (r.token = "eyJ..."))])).toMatchObject({ ok: false, problem: "unknown field token" });
  });
});

describe("the head the dashboard shows", () => {
  it("counts the records and verifies the chain in the store", async () => {
    const reader = new AuditHeadReader(db);
    expect(await reader.read()).toEqual({ count: 0, head: null, verified: true });
    await appendSome(3);
    const head = (await readHead(db))!;
    expect(await reader.read()).toEqual({ count: 3, head: { seq: 3, hash: head.hash, at: head.at }, verified: true });
  });

  it("finds a row edited in the store after it was verified: the last verified one at once, an older one at the next full check", async () => {
    let now = 0;
    const reader = new AuditHeadReader(db, () => now);
    await appendSome(4);
    expect(await reader.read()).toMatchObject({ verified: true, count: 4 });

    await db.query("UPDATE audit_log SET sub = 'mallory' WHERE seq = 4");
    expect(await reader.read()).toMatchObject({ verified: false, brokenAt: 4, problem: expect.stringContaining("record 4 was changed") });
    await db.query("UPDATE audit_log SET sub = 'alice' WHERE seq = 4");
    expect(await reader.read()).toMatchObject({ verified: true });

    await db.query("UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 2");
    await appendSome(1);
    expect(await reader.read()).toMatchObject({ verified: true, count: 5 }); // only the new record is checked
    now += 11 * 60_000;
    expect(await reader.read()).toMatchObject({ verified: false, brokenAt: 2 });
  });

  it("finds a deleted row and two swapped rows", async () => {
    await appendSome(4);
    await db.query("DELETE FROM audit_log WHERE seq = 2");
    expect(await new AuditHeadReader(db).read()).toMatchObject({ verified: false, brokenAt: 2, problem: expect.stringContaining("record 2 is missing") });

    await emptyTables(db);
    await appendSome(4);
    await db.query("UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3)");
    await db.query("UPDATE audit_log SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq IN (-2, -3)");
    expect(await new AuditHeadReader(db).read()).toMatchObject({ verified: false, brokenAt: 2 });
  });
});
