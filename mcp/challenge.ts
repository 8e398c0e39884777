import { DPOP_ALGORITHMS } from "./dpop";

/**
 * The HTTP answers of the MCP endpoint before a tool runs: bearer challenges (RFC 6750 §3,
 * RFC 9728 §5.1 `resource_metadata`), DPoP challenges (RFC 9449 §7.1: the same parameters under
 * the `DPoP` scheme, plus `algs`) and JSON-RPC transport errors. The per-tool 403
 * `insufficient_scope` challenge comes from the MCP SDK (`scopeChallenge`), formatted the same way.
 */

const NO_STORE = { "Cache-Control": "no-store" };

/** An HTTP quoted-string: `\` and `"` escaped, anything outside printable ASCII replaced. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&").replace(/[^\x20-\x7e]/g, " ")}"`;
}

export function bearerChallenge(params: { error?: string; description?: string; scope?: string; authorizationRemediation?: string; resourceMetadata: string }): string {
  const parts: string[] = [];
  if (params.error) parts.push(`error=${quoted(params.error)}`);
  if (params.description) parts.push(`error_description=${quoted(params.description)}`);
  if (params.scope) parts.push(`scope=${quoted(params.scope)}`);
  // draft-ietf-oauth-rar-metadata-remediation: base64url JSON, so it needs no escaping.
  if (params.authorizationRemediation) parts.push(`authorization_remediation=${quoted(params.authorizationRemediation)}`);
  parts.push(`resource_metadata=${quoted(params.resourceMetadata)}`);
  return `Bearer ${parts.join(", ")}`;
}

/** RFC 9449 §7.1: `DPoP error=…, error_description=…, algs="…", resource_metadata=…`. */
export function dpopChallenge(params: { error?: string; description?: string; resourceMetadata: string }): string {
  const parts: string[] = [];
  if (params.error) parts.push(`error=${quoted(params.error)}`);
  if (params.description) parts.push(`error_description=${quoted(params.description)}`);
  parts.push(`algs=${quoted(DPOP_ALGORITHMS.join(" "))}`);
  parts.push(`resource_metadata=${quoted(params.resourceMetadata)}`);
  return `DPoP ${parts.join(", ")}`;
}

/**
 * No credentials at all: 401 and no error code (RFC 6750 §3.1), where to find the AS, and the
 * scope to ask for first (RFC 6750 §3: `scope` may come without an error). MCP clients ask for
 * what the challenge names, else for every scope in the metadata; naming only reading keeps a
 * new client from asking for a trade scope that consent never grants.
 */
export function missingTokenResponse(resourceMetadata: string, scope?: string): Response {
  return Response.json(
    { error_description: "A bearer token is required. See resource_metadata in the WWW-Authenticate header." },
    { status: 401, headers: { ...NO_STORE, "WWW-Authenticate": bearerChallenge({ resourceMetadata, scope }) } },
  );
}

/**
 * Expired, revoked, malformed or not ours: 401 invalid_token, challenged in the scheme the client
 * used. `offerDPoP` adds a `DPoP` challenge after the Bearer one (RFC 9449 §7.2: a DPoP-bound
 * token presented as a bearer token, which must be presented with the DPoP scheme instead).
 */
export function invalidTokenResponse(description: string, resourceMetadata: string, scheme: "Bearer" | "DPoP" = "Bearer", offerDPoP = false): Response {
  const challenge = { error: "invalid_token", description, resourceMetadata };
  const headers = new Headers({ ...NO_STORE, "WWW-Authenticate": scheme === "DPoP" ? dpopChallenge(challenge) : bearerChallenge(challenge) });
  if (scheme === "Bearer" && offerDPoP) headers.append("WWW-Authenticate", dpopChallenge({ resourceMetadata }));
  return Response.json({ error: "invalid_token", error_description: description }, { status: 401, headers });
}

/** A missing, malformed, stale, replayed or foreign-key DPoP proof (RFC 9449 §7.1): 401 invalid_dpop_proof. */
export function invalidDPoPProofResponse(description: string, resourceMetadata: string): Response {
  return Response.json(
    { error: "invalid_dpop_proof", error_description: description },
    { status: 401, headers: { ...NO_STORE, "WWW-Authenticate": dpopChallenge({ error: "invalid_dpop_proof", description, resourceMetadata }) } },
  );
}

/** A malformed request (token in the query string, two tokens, bad header syntax): 400. */
export function invalidRequestResponse(description: string, resourceMetadata: string, scheme: "Bearer" | "DPoP" = "Bearer"): Response {
  const challenge = { error: "invalid_request", description, resourceMetadata };
  return Response.json(
    { error: "invalid_request", error_description: description },
    { status: 400, headers: { ...NO_STORE, "WWW-Authenticate": scheme === "DPoP" ? dpopChallenge(challenge) : bearerChallenge(challenge) } },
  );
}

/** The issuer's keys (or the proof replay store) could not be reached: the request may be fine. */
export function keysUnavailableResponse(description = "The authorization server's keys could not be loaded; retry shortly."): Response {
  return Response.json({ error: "temporarily_unavailable", error_description: description }, { status: 503, headers: { ...NO_STORE, "Retry-After": "5" } });
}

/** A JSON-RPC error outside any request (transport level): `id` is null. */
export function jsonRpcErrorResponse(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status, headers: { ...NO_STORE, ...headers } });
}
