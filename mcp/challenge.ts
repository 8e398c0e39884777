/**
 * The HTTP answers of the MCP endpoint before a tool runs: bearer challenges (RFC 6750 §3,
 * RFC 9728 §5.1 `resource_metadata`) and JSON-RPC transport errors. The per-tool 403
 * `insufficient_scope` challenge comes from the MCP SDK (`scopeChallenge`), formatted the same way.
 */

const NO_STORE = { "Cache-Control": "no-store" };

/** An HTTP quoted-string: `\` and `"` escaped, anything outside printable ASCII replaced. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&").replace(/[^\x20-\x7e]/g, " ")}"`;
}

export function bearerChallenge(params: { error?: string; description?: string; scope?: string; resourceMetadata: string }): string {
  const parts: string[] = [];
  if (params.error) parts.push(`error=${quoted(params.error)}`);
  if (params.description) parts.push(`error_description=${quoted(params.description)}`);
  if (params.scope) parts.push(`scope=${quoted(params.scope)}`);
  parts.push(`resource_metadata=${quoted(params.resourceMetadata)}`);
  return `Bearer ${parts.join(", ")}`;
}

/** No credentials at all: 401 and no error code (RFC 6750 §3.1), only where to find the AS. */
export function missingTokenResponse(resourceMetadata: string): Response {
  return Response.json(
    { error_description: "A bearer token is required. See resource_metadata in the WWW-Authenticate header." },
    { status: 401, headers: { ...NO_STORE, "WWW-Authenticate": bearerChallenge({ resourceMetadata }) } },
  );
}

/** Expired, revoked, malformed or not ours: 401 invalid_token. */
export function invalidTokenResponse(description: string, resourceMetadata: string): Response {
  return Response.json(
    { error: "invalid_token", error_description: description },
    {
      status: 401,
      headers: { ...NO_STORE, "WWW-Authenticate": bearerChallenge({ error: "invalid_token", description, resourceMetadata }) },
    },
  );
}

/** A malformed request (token in the query string, two tokens, bad header syntax): 400. */
export function invalidRequestResponse(description: string, resourceMetadata: string): Response {
  return Response.json(
    { error: "invalid_request", error_description: description },
    {
      status: 400,
      headers: { ...NO_STORE, "WWW-Authenticate": bearerChallenge({ error: "invalid_request", description, resourceMetadata }) },
    },
  );
}

/** The issuer's keys could not be fetched: the token may be valid, so no invalid_token. */
export function keysUnavailableResponse(): Response {
  return Response.json(
    { error: "temporarily_unavailable", error_description: "The authorization server's keys could not be loaded; retry shortly." },
    { status: 503, headers: { ...NO_STORE, "Retry-After": "5" } },
  );
}

/** A JSON-RPC error outside any request (transport level): `id` is null. */
export function jsonRpcErrorResponse(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status, headers: { ...NO_STORE, ...headers } });
}
