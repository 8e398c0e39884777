import "server-only";
import type { CallToolResult, ScopeChallengeHandler } from "@modelcontextprotocol/server";
import type { AppConfig } from "../lib/config";
import type { ActivityLog } from "../lib/events/activity";
import type { EventBus } from "../lib/events/bus";
import type { MarketSimulator } from "../lib/market/simulator";
import type { Db } from "../lib/store/db";
import { auditToolCall } from "./audit";
import type { Principal } from "../lib/protected-resource/principal";
import type { Checked } from "./tool-input";

/** What the broker's tools need from the app: passed in, never read from globals. */
export interface BrokerDeps {
  config: AppConfig;
  db: Db;
  market: MarketSimulator;
  activity: ActivityLog;
  bus: EventBus;
}

/** One tool call's context: the app and the verified caller (undefined only if the gate was bypassed). */
export interface ToolContext {
  deps: BrokerDeps;
  principal: Principal | undefined;
}

/** A tool's outcome before it becomes an MCP result: data, or a refusal with a stable code. */
export type Outcome =
  | { ok: true; data: Record<string, unknown>; reason?: string; orderId?: string | null; bindingRule?: string | null; audited?: boolean }
  | { ok: false; code: string; message: string; orderId?: string | null; bindingRule?: string | null };

export const refuse = (code: string, message: string, extra: { orderId?: string | null; bindingRule?: string | null } = {}): Outcome => ({
  ok: false,
  code,
  message,
  ...extra,
});

/**
 * Runs a tool body with the one policy every tool shares: arguments must have passed the schema,
 * the caller must be known, every call is audited (allowed or refused, with the reason), and an
 * unexpected failure becomes a plain tool error: never a stack trace, never a 5xx.
 */
export async function runTool<T>(
  tool: string,
  ctx: ToolContext,
  input: Checked<T>,
  body: (args: T, principal: Principal) => Promise<Outcome>,
  onRefused?: (outcome: Extract<Outcome, { ok: false }>) => Promise<void>,
): Promise<CallToolResult> {
  let outcome: Outcome;
  try {
    if (!ctx.principal) outcome = refuse("unauthenticated", "No verified caller.");
    else if (!input.ok) outcome = refuse(input.code, input.message);
    else outcome = await body(input.args, ctx.principal);
  } catch (error) {
    console.error(`[mcp] ${tool} failed:`, error instanceof Error ? error.message : "unknown error");
    outcome = refuse("server_error", "The broker could not complete the call; nothing was executed.");
  }
  try {
    if (!outcome.ok || !outcome.audited) {
      await auditToolCall(ctx.deps.db, ctx.principal, {
        tool,
        decision: outcome.ok ? "allowed" : "refused",
        reason: outcome.ok ? (outcome.reason ?? "ok") : `${outcome.code}: ${outcome.message}`,
        args: input.raw,
        orderId: outcome.orderId ?? orderIdOf(input.raw),
        bindingRule: outcome.bindingRule ?? null,
      });
    }
    if (!outcome.ok && onRefused) await onRefused(outcome);
  } catch (error) {
    console.error(`[mcp] ${tool}: audit failed:`, error instanceof Error ? error.message : "unknown error");
    if (outcome.ok) outcome = refuse("server_error", "The call could not be audited, so its result is withheld.");
  }
  return outcome.ok ? okResult(outcome.data) : errorResult(outcome.code, outcome.message);
}

export function okResult(data: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: data };
}

export function errorResult(code: string, message: string): CallToolResult {
  return { content: [{ type: "text", text: `Refused (${code}): ${message}` }], isError: true };
}

/**
 * The per-tool scope check, answered by the SDK before dispatch with HTTP 403 and
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="…", resource_metadata="…"`
 * (MCP authorization, step-up). The refusal is audited here because the tool never runs.
 */
export function requireScope(
  tool: string,
  scope: string,
  ctx: ToolContext,
  onRefused?: (message: string) => Promise<void>,
): ScopeChallengeHandler {
  return async ({ request }) => {
    const principal = ctx.principal;
    if (!principal || principal.scopes.includes(scope)) return undefined;
    const message = `The ${tool} tool requires the ${scope} scope; the token has ${principal.scopes.join(" ") || "none"}.`;
    const args = (request.params as { arguments?: unknown } | undefined)?.arguments;
    try {
      await auditToolCall(ctx.deps.db, principal, {
        event: "step_up.required",
        tool,
        decision: "refused",
        reason: `insufficient_scope: ${message}`,
        args,
        orderId: orderIdOf(args),
      });
      if (onRefused) await onRefused(message);
    } catch (error) {
      // The refusal stands either way; a failed audit write must not turn a 403 into a 500.
      console.error(`[mcp] ${tool}: audit failed:`, error instanceof Error ? error.message : "unknown error");
    }
    return { scopes: [scope], errorDescription: `The ${tool} tool requires the ${scope} scope` };
  };
}

/** The order id of a call, if it has a plausible one (for the audit record of refused calls). */
function orderIdOf(args: unknown): string | null {
  const id = (args as { order_id?: unknown } | null | undefined)?.order_id;
  return typeof id === "string" && id.length <= 64 ? id : null;
}
