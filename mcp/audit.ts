import "server-only";
import { createHash } from "node:crypto";
import { recordAudit } from "../lib/ledger/audit";
import type { Queryable } from "../lib/store/db";
import type { Principal } from "../lib/protected-resource/principal";

/**
 * One audit record per tool call: who (sub), through whom (the whole act chain), which client and
 * token id, which scopes, what was decided and why, and a SHA-256 digest of the canonical
 * arguments, so a record can be matched to a request without storing it. Never the token.
 */

export interface ToolDecision {
  tool: string;
  decision: "allowed" | "refused";
  /** A stable code ("ok", "insufficient_scope", "price_above_limit", ...) and a sentence. */
  reason: string;
  args: unknown;
  orderId?: string | null;
  bindingRule?: string | null;
  /** The chain's event; by default `trade.executed` / `trade.refused` for trades, `tool.allowed` / `tool.refused` otherwise. */
  event?: string;
}

const TRADE_TOOLS = new Set(["buy_stock", "sell_stock"]);

export async function auditToolCall(db: Queryable, principal: Principal | undefined, d: ToolDecision): Promise<void> {
  await recordAudit(db, {
    event: d.event ?? (TRADE_TOOLS.has(d.tool) ? `trade.${d.decision === "allowed" ? "executed" : "refused"}` : `tool.${d.decision}`),
    tool: d.tool,
    decision: d.decision,
    reason: d.reason.slice(0, 500),
    sub: principal?.sub ?? null,
    actorChain: principal?.actorChain ?? null,
    clientId: principal?.clientId ?? null,
    jti: principal?.jti ?? null,
    scopes: principal ? principal.scopes.join(" ") : null,
    orderId: d.orderId ?? null,
    argsDigest: digestArguments(d.args),
    bindingRule: d.bindingRule ?? null,
  });
}

/** `sha256:` + hex of the canonical JSON (keys sorted at every level) of the arguments. */
export function digestArguments(args: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(args ?? {})).digest("hex")}`;
}

/** JSON with object keys sorted, so the same arguments always hash the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}
