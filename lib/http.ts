import "server-only";
import { invalidRequest, payloadTooLarge, ProtocolError } from "./errors";
import { readLimitedBody } from "./net/body-limit";

/** Small helpers every route handler shares: JSON replies, one error mapping, input guards. */

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store", ...headers } });
}

/**
 * Maps any thrown error to the one error body, `{ error, error_description }` as OAuth spells it.
 * A ProtocolError below 500 shows its code and description; anything else is a 500 that shows
 * nothing of itself (its detail goes to the log).
 */
export function errorResponse(error: unknown): Response {
  if (error instanceof ProtocolError && error.status < 500) {
    return json({ error: error.code, error_description: error.description }, error.status);
  }
  console.error("[http] unexpected error:", error);
  return json({ error: "server_error", error_description: "Something went wrong on the server." }, 500);
}

/**
 * Refuses a state-changing request whose Origin is present and not this app's public origin: a
 * page on another site cannot press the demo buttons through the user's browser. The Host header
 * is not trusted for this (a DNS-rebinding page would control it).
 */
export function assertSameOrigin(request: Request, publicUrl: string): void {
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== new URL(publicUrl).origin) {
    throw new ProtocolError("forbidden_origin", "Requests from another origin are not accepted.", { status: 403 });
  }
}

/**
 * The largest request body a route under /api accepts, in bytes. Their inputs are a few short
 * fields (the mandate is two amounts); the other POST routes take no body at all.
 */
export const MAX_BODY_BYTES = 1024;

export interface ReadJsonOptions {
  /** The 400's description when the body is not JSON. */
  notJson: string;
  /** Accept an empty (or blank) body as `undefined` instead of refusing it as not JSON. */
  allowEmpty?: boolean;
}

/**
 * A small JSON request body: more than MAX_BODY_BYTES bytes is a 413, refused on its declared
 * length before it is read or as soon as a chunked body crosses the limit; not UTF-8 JSON is a
 * 400 (invalid_request). Validating what it contains is the caller's job.
 */
export async function readJsonBody(request: Request, options: ReadJsonOptions): Promise<unknown> {
  const bytes = await readLimitedBody(request, MAX_BODY_BYTES);
  if (bytes === undefined) throw payloadTooLarge(MAX_BODY_BYTES);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalidRequest(options.notJson);
  }
  if (options.allowEmpty && text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw invalidRequest(options.notJson);
  }
}

/**
 * The demo controls take no parameters: the body must be empty or the empty JSON object `{}`.
 * Anything else is a client error and changes nothing.
 */
export async function readEmptyBody(request: Request): Promise<void> {
  const parsed = await readJsonBody(request, { notJson: "The request body is not valid JSON; send no body or {}.", allowEmpty: true });
  if (parsed === undefined) return;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.keys(parsed).length > 0) {
    throw invalidRequest("This action takes no parameters; send no body or {}.");
  }
}
