import "server-only";
import type { Db, Queryable } from "../store/db";
import { GENESIS_HASH, hashRecord, type AuditSource, type ChainFields, type ChainRecord } from "./record";

/**
 * Appends to the audit chain. Every append takes a transaction-level advisory lock first, then
 * reads the head and inserts the next record: two appends can never chain onto the same record,
 * whatever process or connection they come from (PostgreSQL), and the unique `seq` is the
 * backstop. Given a transaction, the record commits or rolls back with the caller's decision;
 * given the database, the append runs in a transaction of its own. In a caller's transaction the
 * append comes last, after its row locks: whoever holds the lock then waits for nothing more, so
 * waiting for it cannot deadlock.
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

/** The advisory lock key of the chain's head (any constant unique to this app). */
const HEAD_LOCK_KEY = 0x5347_4155; // "SGAU"

export async function appendAudit(store: Db | Queryable, entry: AuditEntry, now: Date = new Date()): Promise<ChainRecord> {
  if (isDb(store)) return store.transaction((tx) => appendLocked(tx, entry, now));
  return appendLocked(store, entry, now);
}

async function appendLocked(tx: Queryable, e: AuditEntry, now: Date): Promise<ChainRecord> {
  await tx.query("SELECT pg_advisory_xact_lock($1)", [HEAD_LOCK_KEY]);
  const [head] = await tx.query<{ seq: number; hash: string }>(
    "SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
  );
  const fields: ChainFields & { prev_hash: string } = {
    seq: (head?.seq ?? 0) + 1,
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
    prev_hash: head?.hash ?? GENESIS_HASH,
  };
  // Hash the actor chain as the store will give it back: plain JSON (JSONB reorders its keys too,
  // which canonical JSON makes harmless).
  fields.act = fields.act === null ? null : JSON.parse(JSON.stringify(fields.act));
  const record: ChainRecord = { ...fields, hash: hashRecord(fields) };
  await tx.query(
    `INSERT INTO audit_log (seq, at, source, event, decision, reason, sub, actor_chain, client_id, jti, scopes, order_id, tool, args_digest, binding_rule, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    [
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
    ],
  );
  return record;
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
