import "server-only";
import type { Queryable } from "../store/db";
import { readChain, readHead } from "./chain";
import { hashRecord, type ChainRecord } from "./record";
import { checkLink } from "./verify";

/**
 * The chain's head for the dashboard, and whether the chain in the store verifies. Cheap enough to
 * ask every few seconds: a verified prefix is remembered (its last seq and hash), and later calls
 * check only that its last record is unchanged and the records after it, re-verifying the whole
 * chain every FULL_CHECK_MS. `npm run audit -- verify` checks an export completely.
 */
export interface AuditHead {
  /** Records in the chain (seqs are gap-free, so the head's seq). */
  count: number;
  head: { seq: number; hash: string; at: string } | null;
  verified: boolean;
  /** When not verified: the first record that breaks the chain, and how. */
  brokenAt?: number;
  problem?: string;
}

const FULL_CHECK_MS = 10 * 60_000;

interface Verified {
  seq: number;
  hash: string;
  fullAt: number;
}

export class AuditHeadReader {
  private verified: Verified | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly now: () => number = Date.now,
  ) {}

  async read(): Promise<AuditHead> {
    const head = await readHead(this.db);
    if (!head) {
      this.verified = undefined;
      return { count: 0, head: null, verified: true };
    }
    const summary = { count: head.seq, head: { seq: head.seq, hash: head.hash, at: head.at } };
    const problem = await this.verifyUpTo(head.seq);
    return problem ? { ...summary, verified: false, ...problem } : { ...summary, verified: true };
  }

  private async verifyUpTo(headSeq: number): Promise<{ brokenAt: number; problem: string } | undefined> {
    const start = await this.stillVerified(headSeq);
    let prev: Pick<ChainRecord, "seq" | "hash"> | undefined = start ? { seq: start.seq, hash: start.hash } : undefined;
    for await (const r of readChain(this.db, 1000, prev?.seq ?? 0)) {
      if (r.seq > headSeq) break;
      const problem = checkLink(prev, r);
      if (problem) {
        this.verified = undefined;
        return { brokenAt: (prev?.seq ?? 0) + 1, problem };
      }
      prev = r;
    }
    if (prev) this.verified = { seq: prev.seq, hash: prev.hash, fullAt: start?.fullAt ?? this.now() };
    return undefined;
  }

  /** The remembered prefix, if its last record is unchanged (recomputed) and it is not due a full check. */
  private async stillVerified(headSeq: number): Promise<Verified | undefined> {
    const v = this.verified;
    if (!v || v.seq > headSeq || this.now() - v.fullAt > FULL_CHECK_MS) return undefined;
    for await (const r of readChain(this.db, 1, v.seq - 1)) {
      return r.seq === v.seq && r.hash === v.hash && hashRecord(r) === v.hash ? v : undefined;
    }
    return undefined;
  }
}

const readers = new WeakMap<Queryable, AuditHeadReader>();

/** The head of the chain in `db`, through one reader per store (its verified prefix is kept). */
export function readAuditHead(db: Queryable): Promise<AuditHead> {
  let reader = readers.get(db);
  if (!reader) readers.set(db, (reader = new AuditHeadReader(db)));
  return reader.read();
}
