import { createHash } from "node:crypto";
import { canonicalize } from "./canonical-json";

/**
 * One record of the audit chain, exactly as it is hashed and exported: names as the columns
 * spell them, `at` as an ISO 8601 string in milliseconds, `act` as the token's actor chain
 * (`{ "sub": agent }`, nested for a chain of actors). Never a token: ids, claims and reasons only.
 */
export const AUDIT_SOURCES = ["resource_server", "authorization_server", "agent"] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

export interface ChainFields {
  seq: number;
  at: string;
  source: AuditSource;
  /** What happened: `order.frozen`, `ciba.requested`, `ciba.approved`, `token.issued`, `trade.executed`… */
  event: string;
  /** The decision in one word: `allowed`, `refused`, `frozen`, `requested`, `approved`, `denied`, `expired`, `issued`… */
  decision: string;
  reason: string | null;
  sub: string | null;
  act: unknown;
  client_id: string | null;
  jti: string | null;
  scopes: string | null;
  order_id: string | null;
  tool: string | null;
  args_digest: string | null;
  binding_rule: string | null;
}

export interface ChainRecord extends ChainFields {
  prev_hash: string;
  hash: string;
}

/** The prev_hash of the first record. */
export const GENESIS_HASH = "0".repeat(64);

/** SHA-256 (hex) of the canonical JSON (RFC 8785) of the record's fields and its prev_hash. */
export function hashRecord(fields: ChainFields & { prev_hash: string }): string {
  const content = Object.fromEntries(CHAIN_FIELDS.map((k) => [k, fields[k]]));
  return createHash("sha256").update(canonicalize(content), "utf8").digest("hex");
}

/** The fields a record is hashed over, in the order an export line lists them. */
export const CHAIN_FIELDS = [
  "seq",
  "at",
  "source",
  "event",
  "decision",
  "reason",
  "sub",
  "act",
  "client_id",
  "jti",
  "scopes",
  "order_id",
  "tool",
  "args_digest",
  "binding_rule",
  "prev_hash",
] as const;

/** One line of an export: the record's fields in their order, then its hash. */
export function exportLine(record: ChainRecord): string {
  return JSON.stringify({ ...Object.fromEntries(CHAIN_FIELDS.map((k) => [k, record[k]])), hash: record.hash });
}
