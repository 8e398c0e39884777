/**
 * One error vocabulary. `code` keeps the spec's names where a protocol defines them
 * (invalid_request, invalid_grant, insufficient_scope); `description` is safe to show;
 * `detail` is for logs only and never leaves the server. Only errors below 500 expose their
 * description to clients.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly description: string,
    readonly detail?: string,
  ) {
    super(description);
    this.name = "AppError";
  }
}

export const invalidRequest = (description: string) => new AppError("invalid_request", 400, description);

/** A request body over the route's limit (HTTP 413); the body was not read past the limit. */
export const payloadTooLarge = (maxBytes: number) =>
  new AppError("invalid_request", 413, `The request body is larger than ${maxBytes} bytes.`);

/** The JSON body a route sends for an error: `{ error, error_description }` as OAuth spells it. */
export function errorBody(error: unknown): { status: number; body: { error: string; error_description: string } } {
  if (error instanceof AppError && error.status < 500) {
    return { status: error.status, body: { error: error.code, error_description: error.description } };
  }
  return { status: 500, body: { error: "server_error", error_description: "Something went wrong on the server." } };
}
