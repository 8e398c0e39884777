import "server-only";
import { ResponseBodyError } from "openid-client";

/**
 * Sorts what openid-client throws into the two cases a client acts on differently: the server
 * answered with an OAuth error (RFC 6749 §5.2; CIBA Core §11 adds its own codes), or the server
 * could not be reached or answered like a broken server (network error, timeout, 5xx, a body
 * that is not an OAuth error). The second case says nothing about the request itself.
 */
export type ClassifiedError =
  | { kind: "oauth"; error: string; description?: string; status: number; retryAfterSeconds?: number }
  | { kind: "unreachable"; message: string };

/** OAuth errors that still mean "the server is having trouble", not "your request is bad". */
const SERVER_TROUBLE = new Set(["server_error", "temporarily_unavailable"]);

export function classifyOAuthError(error: unknown): ClassifiedError {
  if (error instanceof ResponseBodyError) {
    if (error.status >= 500 || SERVER_TROUBLE.has(error.error)) {
      return { kind: "unreachable", message: `${error.error} (HTTP ${error.status})` };
    }
    return {
      kind: "oauth",
      error: error.error,
      description: typeof error.error_description === "string" ? error.error_description : undefined,
      status: error.status,
      retryAfterSeconds: retryAfter(error.response),
    };
  }
  return { kind: "unreachable", message: describe(error) };
}

/** Retry-After in seconds (delta form only; Auth0 sends it with slow_down). */
function retryAfter(response: Response | undefined): number | undefined {
  const value = response?.headers.get("retry-after");
  if (!value || !/^\d{1,5}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** A short, token-free description of a transport failure for logs and the dashboard. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return "unknown error";
  const cause = (error as { cause?: unknown }).cause;
  const code = cause && typeof cause === "object" && "code" in cause ? String((cause as { code: unknown }).code) : undefined;
  if (error.name === "TimeoutError") return "timed out";
  if (error.name === "AbortError") return "aborted";
  if (code) return `${error.message} (${code})`;
  return error.message.slice(0, 200);
}
