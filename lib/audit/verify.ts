import { CHAIN_FIELDS, GENESIS_HASH, hashRecord, type ChainRecord } from "./record";

/**
 * Checks an exported chain, record by record, and names the first one that breaks it:
 *
 * - a record whose hash is not the hash of its content was changed (or its prev_hash edited);
 * - a record whose seq is not the next one: the expected record was removed, or the records
 *   were reordered (told apart by whether the expected seq turns up later);
 * - a record whose prev_hash is not the hash of the record before it, while its own hash holds:
 *   the record before it was rewritten with a recomputed hash (or this one was).
 *
 * A chain proves its own consistency, not that nobody rewrote it whole: whoever can write the
 * store can recompute every hash from the changed record on. `expectedHead` anchors it: the head
 * hash noted elsewhere (the dashboard shows it) must be the hash of a record in the chain, so
 * records changed or appended after it are found.
 */
export type VerifyResult =
  | { ok: true; count: number; head: { seq: number; hash: string } | null }
  | { ok: false; count: number; seq: number | null; line: number; problem: string };

export function verifyChain(lines: readonly string[], expectedHead?: string): VerifyResult {
  const entries: { record: ChainRecord; line: number }[] = [];
  for (const [i, text] of lines.entries()) {
    if (text.trim() === "") continue;
    const parsed = parseRecord(text);
    if (typeof parsed === "string") return { ok: false, count: entries.length, seq: null, line: i + 1, problem: parsed };
    entries.push({ record: parsed, line: i + 1 });
  }
  const count = entries.length;
  let prev: ChainRecord | undefined;
  for (const [i, { record: r, line }] of entries.entries()) {
    const fail = (seq: number, problem: string): VerifyResult => ({ ok: false, count, seq, line, problem });
    const expectedSeq = (prev?.seq ?? 0) + 1;
    if (r.seq !== expectedSeq) {
      const later = entries.slice(i + 1).some((x) => x.record.seq === expectedSeq);
      if (later || r.seq < expectedSeq) return fail(expectedSeq, `record ${expectedSeq} is out of order: record ${r.seq} stands where it should be`);
      return fail(expectedSeq, `record ${expectedSeq} was removed: record ${r.seq} follows record ${expectedSeq - 1}`);
    }
    const problem = checkLink(prev, r);
    if (problem) return fail(r.seq, problem);
    prev = r;
  }
  if (expectedHead !== undefined) {
    const at = entries.findIndex((e) => e.record.hash === expectedHead);
    if (at < 0) return { ok: false, count, seq: null, line: 0, problem: `the expected head ${expectedHead.slice(0, 12)}… is not in the chain: the chain was rewritten or cut short` };
    const extra = entries[at + 1];
    if (extra) return { ok: false, count, seq: extra.record.seq, line: extra.line, problem: `record ${extra.record.seq} comes after the expected head (record ${entries[at]!.record.seq})` };
  }
  return { ok: true, count, head: prev ? { seq: prev.seq, hash: prev.hash } : null };
}

/**
 * What is wrong with `r` as the record after `prev` (undefined: the chain's first), if anything:
 * its seq, its hash, its prev_hash, in that order.
 */
export function checkLink(prev: Pick<ChainRecord, "seq" | "hash"> | undefined, r: ChainRecord): string | undefined {
  const expectedSeq = (prev?.seq ?? 0) + 1;
  if (r.seq !== expectedSeq) return `record ${expectedSeq} is missing or out of order: record ${r.seq} stands where it should be`;
  if (hashRecord(r) !== r.hash) return `record ${r.seq} was changed: its hash is not the hash of its content`;
  if (r.prev_hash === (prev?.hash ?? GENESIS_HASH)) return undefined;
  return prev
    ? `record ${r.seq} does not follow record ${prev.seq}: its prev_hash is not that record's hash (record ${prev.seq} or ${r.seq} was rewritten)`
    : `record ${r.seq} does not start the chain: its prev_hash is not the genesis hash`;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** One export line as a record, or what is wrong with it. */
function parseRecord(text: string): ChainRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not a JSON line";
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const r = value as Record<string, unknown>;
  const extra = Object.keys(r).filter((k) => k !== "hash" && !(CHAIN_FIELDS as readonly string[]).includes(k));
  if (extra.length) return `unknown field ${extra[0]}`;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return "seq is not a positive integer";
  if (typeof r.hash !== "string" || !HEX64.test(r.hash)) return `record ${String(r.seq)}: hash is not a SHA-256 hex digest`;
  if (typeof r.prev_hash !== "string" || !HEX64.test(r.prev_hash)) return `record ${String(r.seq)}: prev_hash is not a SHA-256 hex digest`;
  for (const k of CHAIN_FIELDS) if (!(k in r)) return `record ${String(r.seq)}: field ${k} is missing`;
  return r as unknown as ChainRecord;
}
