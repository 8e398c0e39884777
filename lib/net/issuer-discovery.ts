import "server-only";
import { describe } from "../auth/oauth-errors";
import { ProtocolError, unreachable } from "../errors";
import { withCaFile } from "./ca-fetch";
import type { FetchLike } from "./fetch";

/**
 * The issuer a server names in its discovery document (OpenID Connect Discovery 1.0 §3-4,
 * RFC 8414 §3). WSO2 Identity Server signs its tokens with the issuer of its configured public URL
 * (the super tenant without /t/carbon.super, the configured host name, FAPI or entity-ID settings),
 * which need not be the base URL the app reaches it at; its discovery document names that issuer.
 * Used by the agent's profile (ID tokens) and by the MCP server (access tokens), so both trust the
 * same issuer, the one the server says it is.
 *
 * Read once per process and document; a failed read is not kept, the next use tries again.
 */
const discovered = new Map<string, Promise<string>>();

export function readDiscoveredIssuer(discoveryUrl: string, fetch: FetchLike): Promise<string> {
  let issuer = discovered.get(discoveryUrl);
  if (!issuer) {
    issuer = fetchIssuer(discoveryUrl, fetch);
    discovered.set(discoveryUrl, issuer);
    issuer.catch(() => discovered.delete(discoveryUrl));
  }
  return issuer;
}

/**
 * The issuer to trust for a configuration: the configured one (AUTH_ISSUER, or a provider's fixed
 * issuer), else the one named by the discovery document the configuration points at.
 */
export function trustedIssuer(auth: { issuer: string; issuerDiscovery?: string; caFile?: string }, fetch: FetchLike = (input, init) => globalThis.fetch(input, init)): Promise<string> {
  if (!auth.issuerDiscovery) return Promise.resolve(auth.issuer);
  return readDiscoveredIssuer(auth.issuerDiscovery, withCaFile(fetch, auth.caFile));
}

/**
 * A server that cannot be reached (or fails with 5xx) may answer later: `unreachable`, retryable.
 * Any other answer without an issuer means the URL is not the server's discovery document: a
 * configuration error, final.
 */
async function fetchIssuer(url: string, fetch: FetchLike): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" }, redirect: "manual", signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw unreachable("unreachable", `the discovery document ${url} could not be read: ${describe(error)}`);
  }
  if (response.status >= 500) throw unreachable("unreachable", `the discovery document ${url} answered HTTP ${response.status}`);
  const body = (await response.json().catch(() => undefined)) as { issuer?: unknown } | undefined;
  const issuer = response.status === 200 && typeof body?.issuer === "string" ? body.issuer : undefined;
  if (!issuer || !URL.canParse(issuer)) {
    throw new ProtocolError("invalid_configuration", `no discovery document with an issuer at ${url} (HTTP ${response.status}): check WSO2_BASE_URL, or set AUTH_ISSUER`, { status: 502 });
  }
  return issuer;
}
