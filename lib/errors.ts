/**
 * One error vocabulary for every layer, in the manner of oidc-provider's lib/helpers/errors.js:
 * a ProtocolError carries
 * - `code`: the spec's name where a protocol defines one (RFC 6749 §5.2 `invalid_request`,
 *   `invalid_grant`, `invalid_client`; RFC 6750 §3.1 `invalid_token`, `insufficient_scope`;
 *   OpenID CIBA Core §11/§13 `access_denied`, `expired_token`, `slow_down`; RFC 9449 §7.1
 *   `invalid_dpop_proof`; RFC 9396 §5 `invalid_authorization_details`), else a stable snake_case
 *   name of the app's own (`insufficient_funds`, `price_above_limit`);
 * - `description`: safe to show to the user, a client or the model;
 * - `status`: the HTTP status where the error ends a request (lib/http.ts and mcp/challenge.ts
 *   are the only places that turn errors into responses);
 * - `retryable`: the same request may succeed later (the server could not be reached, or is busy);
 *   false means the request itself was refused;
 * - `detail`: for logs only, never sent.
 *
 * Code that reports a refusal without throwing returns the one result shape, `Failure`.
 */
export interface ProtocolErrorOptions {
  status?: number;
  retryable?: boolean;
  detail?: string;
  cause?: unknown;
}

/**
 * Marks every ProtocolError, whichever copy of this module made it. Next.js loads route handlers
 * and instrumentation.ts as separate module instances, so an error thrown by the runtime's objects
 * (made by one instance) reaches a route that imported another: `instanceof` checks this mark,
 * not the class identity.
 */
const BRAND = Symbol.for("sleeping-guardian.protocol-error");

export class ProtocolError extends Error {
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  readonly [BRAND] = true;
  readonly status: number;
  readonly retryable: boolean;
  readonly detail: string | undefined;

  constructor(
    readonly code: string,
    readonly description: string,
    options: ProtocolErrorOptions = {},
  ) {
    super(description ? `${code}: ${description}` : code, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    this.status = options.status ?? 400;
    this.retryable = options.retryable ?? false;
    this.detail = options.detail;
  }

  /** The refusal as the one result shape. */
  get failure(): Failure {
    return failure(this.code, this.description);
  }
}

/** The one result shape of a refusal: what went wrong (`code`) and a sentence safe to show. */
export interface Failure {
  ok: false;
  code: string;
  message: string;
}

export const failure = (code: string, message: string): Failure => ({ ok: false, code, message });

// The codes used in more than one place.

export const invalidRequest = (description: string) => new ProtocolError("invalid_request", description, { status: 400 });

/** A request body over the route's limit (HTTP 413); the body was not read past the limit. */
export const payloadTooLarge = (maxBytes: number) => new ProtocolError("invalid_request", `The request body is larger than ${maxBytes} bytes.`, { status: 413 });

export const notFound = (description: string) => new ProtocolError("not_found", description, { status: 404 });

/** RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid for other reasons. */
export const invalidToken = (description: string) => new ProtocolError("invalid_token", description, { status: 401 });

/** RFC 9449 §7.1: the DPoP proof is missing, malformed, or does not match the request or the token. */
export const invalidDpopProof = (description: string) => new ProtocolError("invalid_dpop_proof", description, { status: 401 });

/** A response the client must not trust (an ID token that fails its checks, an unrequested DPoP token). */
export const invalidResponse = (description: string) => new ProtocolError("invalid_response", description, { status: 502 });

/** The server could not be reached or answered like a broken server: the request may work later. */
export const unreachable = (code: string, description: string) => new ProtocolError(code, description, { status: 503, retryable: true });
