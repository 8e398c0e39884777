import "server-only";
import type { Db, Queryable } from "../store/db";
import { GroupCommit } from "./group-commit";
import { GENESIS_HASH, hashRecord, type AuditSource, type ChainFields, type ChainRecord } from "./record";

/**
 * Appends to the audit chain. Given the database, an append joins the next group commit
 * (group-commit.ts): the appends that arrive while a transaction is writing are written together
 * in the next one, and each append resolves only once the transaction holding its record has
 * committed. Given a transaction, the record commits or rolls back with the caller's decision.
 *
 * On PostgreSQL a write takes a transaction-level advisory lock, reads the head and inserts the
 * next records, in one transaction: two writers (other processes, other connections) can never
 * chain onto the same record. PGlite runs one transaction at a time on its single connection, in
 * one process per store (pglite-lock.ts): there a write is one INSERT that chains onto the head
 * this process last wrote and checks, in the same statement, that it is still the head (an
 * append in a caller's transaction may have moved it; then the head is read again). The unique
 * `seq` is the backstop either way. In a caller's transaction the append comes last,
 * after its row locks: whoever holds the lock then waits for nothing more, so waiting for it
 * cannot deadlock.
 */
export interface AuditEntry {
  source: AuditSource;
  event: string;
  decision: string;
  reason?: string | null;
  sub?: string | null;
  act?: unknown;
  clientId?: string | null;
  jti?: string | null;
  scopes?: string | null;
  orderId?: string | null;
  tool?: string | null;
  argsDigest?: string | null;
  bindingRule?: string | null;
}

/** An entry and the time it was made. */
export interface TimedEntry {
  entry: AuditEntry;
  now: Date;
}

/** The advisory lock key of the chain's head (any constant unique to this app). */
const HEAD_LOCK_KEY = 0x5347_4155; // "SGAU"

export async function appendAudit(store: Db | Queryable, entry: AuditEntry, now: Date = new Date()): Promise<ChainRecord> {
  if (isDb(store)) return groupCommitFor(store).submit({ entry, now });
  const [record] = await appendRecords(store, [{ entry, now }], { lock: true });
  return record!;
}

/**
 * Writes `entries`, in their order, as the next records of the chain, in the caller's
 * transaction. `lock` takes the head's advisory lock first (PostgreSQL; a caller's transaction
 * whose engine is not known always takes it).
 */
export async function appendRecords(tx: Queryable, entries: readonly TimedEntry[], { lock }: { lock: boolean }): Promise<ChainRecord[]> {
  if (lock) await tx.query("SELECT pg_advisory_xact_lock($1)", [HEAD_LOCK_KEY]);
  const records = chainOnto(await readHeadLink(tx), entries);
  const params: unknown[] = [];
  const rows = valuesRows(records, entries, params);
  await tx.query(`INSERT INTO audit_log (${INSERT_COLUMN_NAMES}) VALUES ${rows}`, params);
  return records;
}

/**
 * Writes `entries` as the next records after `head` in one statement, which PostgreSQL runs as a
 * transaction of its own, and only if `head` is still the chain's head when it runs: the head is
 * checked inside the statement. Undefined when it was not (nothing is written then).
 */
async function appendAfter(db: Queryable, head: HeadLink, entries: readonly TimedEntry[]): Promise<ChainRecord[] | undefined> {
  const records = chainOnto(head, entries);
  const params: unknown[] = [];
  const rows = valuesRows(records, entries, params);
  params.push(head.seq === 0 ? null : head.hash);
  const written = await db.query(
    `INSERT INTO audit_log (${INSERT_COLUMN_NAMES})
     SELECT * FROM (VALUES ${rows}) AS v(${INSERT_COLUMN_NAMES})
      WHERE (SELECT hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1) IS NOT DISTINCT FROM $${params.length}::text
     RETURNING seq`,
    params,
  );
  return written.length === records.length ? records : undefined;
}

/** The seq and hash of the chain's last record (seq 0 and the genesis hash for an empty chain). */
interface HeadLink {
  seq: number;
  hash: string;
}

async function readHeadLink(db: Queryable): Promise<HeadLink> {
  const [head] = await db.query<HeadLink>("SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1");
  return { seq: head?.seq ?? 0, hash: head?.hash ?? GENESIS_HASH };
}

function chainOnto(head: HeadLink, entries: readonly TimedEntry[]): ChainRecord[] {
  let prev = head;
  return entries.map(({ entry, now }) => (prev = buildRecord(prev, entry, now)));
}

/** `(…), (…)` with a typed placeholder per column, appending the values to `params`. */
function valuesRows(records: readonly ChainRecord[], entries: readonly TimedEntry[], params: unknown[]): string {
  return records
    .map((record, i) => {
      const first = params.length;
      params.push(...insertParams(record, entries[i]!.now));
      return `(${INSERT_COLUMN_TYPES.map((type, k) => `$${first + k + 1}::${type}`).join(", ")})`;
    })
    .join(", ");
}

const INSERT_COLUMN_NAMES =
  "seq, at, source, event, decision, reason, sub, actor_chain, client_id, jti, scopes, order_id, tool, args_digest, binding_rule, prev_hash, hash";
const INSERT_COLUMN_TYPES = ["bigint", "timestamptz", ...Array(5).fill("text"), "jsonb", ...Array(9).fill("text")] as const;

/**
 * PGlite: the chain's head as this process last wrote it. The store has one process
 * (pglite-lock.ts), but an append in a caller's transaction reads and moves the head without
 * passing here; the statement's own check of the head finds that, and the head is read again.
 */
async function appendKnownHead(db: Db, known: { head?: HeadLink }, entries: TimedEntry[]): Promise<ChainRecord[]> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const head = known.head ?? (await readHeadLink(db));
    known.head = undefined;
    const records = await appendAfter(db, head, entries);
    if (records) {
      const last = records[records.length - 1]!;
      known.head = { seq: last.seq, hash: last.hash };
      return records;
    }
  }
  throw new Error("the audit chain's head kept moving during an append");
}

/** At most this many records in one write (17 parameters each, well below PostgreSQL's 65535). */
const MAX_GROUP = 256;

const groups = new WeakMap<Db, GroupCommit<TimedEntry, ChainRecord>>();

/**
 * A failure the database reported about the statement's data (SQLSTATE class 22, data exception,
 * or 23, integrity constraint violation: a record it will not take, or a head that moved), which a
 * record written on its own may not repeat. Anything else (a lost connection, a timeout) may have
 * committed the group already.
 */
function isStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^(22|23)[0-9A-Z]{3}$/.test(code);
}

/** The group commit of `db`'s appends: one per store handle. */
function groupCommitFor(db: Db): GroupCommit<TimedEntry, ChainRecord> {
  let group = groups.get(db);
  if (!group) {
    const known: { head?: HeadLink } = {};
    const write =
      db.engine === "pglite"
        ? (entries: TimedEntry[]) => appendKnownHead(db, known, entries)
        : (entries: TimedEntry[]) => db.transaction((tx) => appendRecords(tx, entries, { lock: true }));
    group = new GroupCommit(write, MAX_GROUP, isStatementError);
    groups.set(db, group);
  }
  return group;
}

/** The record after `prev` for `e`, hashed. */
function buildRecord(prev: { seq: number; hash: string }, e: AuditEntry, now: Date): ChainRecord {
  const fields: ChainFields & { prev_hash: string } = {
    seq: prev.seq + 1,
    at: now.toISOString(),
    source: e.source,
    event: e.event,
    decision: e.decision,
    reason: e.reason == null ? null : Array.from(e.reason).slice(0, 500).join(""),
    sub: e.sub ?? null,
    act: e.act ?? null,
    client_id: e.clientId ?? null,
    jti: e.jti ?? null,
    scopes: e.scopes ?? null,
    order_id: e.orderId ?? null,
    tool: e.tool ?? null,
    args_digest: e.argsDigest ?? null,
    binding_rule: e.bindingRule ?? null,
    prev_hash: prev.hash,
  };
  // Hash the actor chain as the store will give it back: plain JSON (JSONB reorders its keys too,
  // which canonical JSON makes harmless).
  fields.act = fields.act === null ? null : JSON.parse(JSON.stringify(fields.act));
  return { ...fields, hash: hashRecord(fields) };
}

function insertParams(record: ChainRecord, now: Date): unknown[] {
  return [
    record.seq,
    now,
    record.source,
    record.event,
    record.decision,
    record.reason,
    record.sub,
    record.act === null ? null : JSON.stringify(record.act),
    record.client_id,
    record.jti,
    record.scopes,
    record.order_id,
    record.tool,
    record.args_digest,
    record.binding_rule,
    record.prev_hash,
    record.hash,
  ];
}

function isDb(store: Db | Queryable): store is Db {
  return typeof (store as Db).transaction === "function";
}

/** The chain in order after seq `from`, `batch` records at a time (an export streams it). */
export async function* readChain(db: Queryable, batch = 1000, from = 0): AsyncGenerator<ChainRecord> {
  let after = from;
  for (;;) {
    const rows = await db.query<Record<string, unknown>>(
      `SELECT seq, at, source, event, decision, reason, sub, actor_chain, client_id, jti, scopes, order_id, tool, args_digest, binding_rule, prev_hash, hash
         FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [after, batch],
    );
    for (const row of rows) yield toRecord(row);
    if (rows.length < batch) return;
    after = rows[rows.length - 1]!.seq as number;
  }
}

/** The newest record, or undefined for an empty chain. */
export async function readHead(db: Queryable): Promise<ChainRecord | undefined> {
  const [row] = await db.query<Record<string, unknown>>(
    `SELECT seq, at, source, event, decision, reason, sub, actor_chain, client_id, jti, scopes, order_id, tool, args_digest, binding_rule, prev_hash, hash
       FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`,
  );
  return row ? toRecord(row) : undefined;
}

function toRecord(r: Record<string, unknown>): ChainRecord {
  return {
    seq: Number(r.seq),
    at: new Date(r.at as string).toISOString(),
    source: r.source as AuditSource,
    event: r.event as string,
    decision: r.decision as string,
    reason: (r.reason as string | null) ?? null,
    sub: (r.sub as string | null) ?? null,
    act: r.actor_chain ?? null,
    client_id: (r.client_id as string | null) ?? null,
    jti: (r.jti as string | null) ?? null,
    scopes: (r.scopes as string | null) ?? null,
    order_id: (r.order_id as string | null) ?? null,
    tool: (r.tool as string | null) ?? null,
    args_digest: (r.args_digest as string | null) ?? null,
    binding_rule: (r.binding_rule as string | null) ?? null,
    prev_hash: r.prev_hash as string,
    hash: r.hash as string,
  };
}
