import "server-only";
import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from "openid-client";
import { ProtocolError } from "../errors";

/**
 * Sorts what openid-client throws into the three cases a client acts on differently: the server
 * answered with an OAuth error (RFC 6749 §5.2; CIBA Core §11 adds its own codes); the server
 * answered with tokens the client must not trust (an ID token whose signature, issuer, audience or
 * times fail OpenID Connect Core §3.1.3.7, a DPoP token the client did not ask for); or the server
 * could not be reached or answered like a broken server (network error, timeout, 5xx, a body that
 * is not an OAuth error). Only the last case says nothing about the request itself.
 */
export type ClassifiedError =
  | { kind: "oauth"; error: string; description?: string; status: number; retryAfterSeconds?: number; intervalSeconds?: number }
  /** `code`: `issuer_mismatch` when an ID token names another issuer than the one trusted, else `invalid_response`. */
  | { kind: "untrusted"; code: "invalid_response" | "issuer_mismatch"; message: string }
  | { kind: "unreachable"; message: string };

/**
 * openid-client's codes for a response that arrived and failed validation: a JWT whose signature,
 * `alg`, key, claims or times are wrong, or a required attribute that is missing or mismatched.
 * (Parse errors, non-JSON bodies and unexpected status codes stay "unreachable": a proxy's error
 * page says nothing about the tokens.)
 */
const UNTRUSTED_CODES = new Set([
  "OAUTH_INVALID_RESPONSE",
  "OAUTH_JWT_CLAIM_COMPARISON_FAILED",
  "OAUTH_JWT_TIMESTAMP_CHECK_FAILED",
  "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED",
  "OAUTH_KEY_SELECTION_FAILED",
  "OAUTH_UNSUPPORTED_OPERATION",
]);

/** OAuth errors that still mean "the server is having trouble", not "your request is bad". */
const SERVER_TROUBLE = new Set(["server_error", "temporarily_unavailable"]);

export async function classifyOAuthError(error: unknown): Promise<ClassifiedError> {
  // A 401 with a `WWW-Authenticate` header (oidc-provider and others add one to invalid_client)
  // is thrown as a challenge before the body is read; its body or the challenge's `error` is
  // still an OAuth error about the request, not a sign of an unreachable server.
  if (error instanceof WWWAuthenticateChallengeError) {
    const body = (await error.response.json().catch(() => undefined)) as { error?: unknown; error_description?: unknown } | undefined;
    const challenge = error.cause.find((c) => typeof c.parameters.error === "string");
    const code = typeof body?.error === "string" ? body.error : challenge?.parameters.error;
    if (code) {
      const description = typeof body?.error_description === "string" ? body.error_description : challenge?.parameters.error_description;
      return { kind: "oauth", error: code, description, status: error.status };
    }
  }
  // A token response the profile itself refused (lib/errors.ts invalidResponse).
  if (error instanceof ProtocolError && error.code === "invalid_response") return { kind: "untrusted", code: "invalid_response", message: error.description };
  if (error instanceof ClientError && typeof error.code === "string" && UNTRUSTED_CODES.has(error.code)) {
    const mismatch = issuerMismatch(error);
    if (mismatch) return { kind: "untrusted", code: "issuer_mismatch", message: mismatch };
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return { kind: "untrusted", code: "invalid_response", message: `${error.message}${cause}`.slice(0, 200) };
  }
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
      intervalSeconds: bodyInterval(error.cause),
    };
  }
  return { kind: "unreachable", message: describe(error) };
}

/**
 * An ID token whose `iss` is not the issuer the client trusts (OpenID Connect Core §3.1.3.7 step 2;
 * oauth4webapi reports it as a JWT claim comparison on `iss`): the configuration names another
 * issuer than the server signs with. A sentence naming both, or undefined for any other failure.
 */
function issuerMismatch(error: InstanceType<typeof ClientError>): string | undefined {
  const detail = (error.cause as { cause?: { claim?: unknown; expected?: unknown; claims?: { iss?: unknown } } } | undefined)?.cause;
  if (error.code !== "OAUTH_JWT_CLAIM_COMPARISON_FAILED" || detail?.claim !== "iss") return undefined;
  return `the server signed its ID token as issuer ${String(detail.claims?.iss).slice(0, 200)}, but this app trusts ${String(detail.expected).slice(0, 200)}`;
}

/** Retry-After in seconds (delta form only; Auth0 sends it with slow_down). */
function retryAfter(response: Response | undefined): number | undefined {
  const value = response?.headers.get("retry-after");
  if (!value || !/^\d{1,5}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/**
 * A positive whole `interval` (seconds) in the error body. Auth0's CIBA guides show one with
 * slow_down ("interval": 10, https://auth0.com/docs/get-started/authentication-and-authorization-flow/client-initiated-backchannel-authentication-flow/user-authorization-with-ciba,
 * step 3), its API reference does not (…/api/authentication/login/check-back-channel-login-status):
 * absent is as common as present. Anything else is ignored.
 */
function bodyInterval(body: unknown): number | undefined {
  const value = body && typeof body === "object" ? (body as { interval?: unknown }).interval : undefined;
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 86_400 ? value : undefined;
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
