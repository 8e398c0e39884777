import "server-only";
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import { SCOPE_READ, STOCK_TRADE_TYPE } from "../protocol";

/**
 * What a client that introduced itself may be: a public client of the authorization code flow
 * (an MCP host such as Claude Code, VS Code, MCP Inspector), registered by RFC 7591 dynamic
 * registration or named by a Client ID Metadata Document (its HTTPS `client_id` URL). The same
 * rules hold for both, since oidc-provider builds both through one client schema:
 *
 * - `token_endpoint_auth_method: none` (RFC 7591 §2): no secret is issued to code nobody vetted;
 *   PKCE (required of every client here) protects its code instead.
 * - grant types `authorization_code` and `refresh_token` only: never CIBA, client credentials or
 *   token exchange, which would let it act without Alice at the keyboard.
 * - response type `code` only; `authorization_details_types` at most `stock_trade`: such a client
 *   may ask Alice to approve an order only as the resource server named it to that client in a
 *   transaction challenge (challenged-orders.ts, checked on every request), never a standing mandate.
 * - scopes at most `openid profile email offline_access stock:read`: reading is all its consent can
 *   grant (a refresh token comes with the refresh_token grant type, offline_access or not).
 * - redirect URIs: `https:`, or `http:` on a loopback address with any port (RFC 8252 §7.3,
 *   §8.3); never plain http to another host, never a fragment.
 * - a name that does not pose as this app's dashboard or agent; the consent screen still calls
 *   every such name unverified.
 *
 * The app's own clients (the dashboard, the agent, test clients) are configured, not registered,
 * and pass untouched: a registered client cannot choose their ids (oidc-provider assigns a random
 * one; a metadata document's id is its HTTPS URL).
 */
export const REGISTERED_CLIENT_SCOPES: ReadonlySet<string> = new Set(["openid", "profile", "email", "offline_access", SCOPE_READ]);
const GRANT_TYPES = new Set(["authorization_code", "refresh_token"]);
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);
const MAX_NAME_LENGTH = 80;
const MAX_URIS = 10;
/** A Client ID Metadata Document URL longer than this is refused before any fetch. */
export const MAX_CLIENT_ID_URL_LENGTH = 512;

export interface RegistrationPolicy {
  /** Configured clients: not subject to these rules. */
  trustedClientIds: ReadonlySet<string>;
  /** Names a registered client may not use (compared without case, spaces or punctuation). */
  reservedNames: string[];
}

/** The first rule the metadata breaks, as an `invalid_client_metadata` description, or undefined. */
export function registeredClientProblem(metadata: Record<string, unknown>, reservedNames: string[]): string | undefined {
  if (metadata.token_endpoint_auth_method !== "none") return "token_endpoint_auth_method must be none: this server registers public clients only";
  const grantTypes = listOf(metadata.grant_types);
  const badGrant = grantTypes.find((g) => !GRANT_TYPES.has(g));
  if (badGrant !== undefined) return `grant type ${badGrant} is not available to registered clients (authorization_code and refresh_token only)`;
  if (!grantTypes.includes("authorization_code")) return "grant_types must include authorization_code";
  const badResponse = listOf(metadata.response_types).find((r) => r !== "code");
  if (badResponse !== undefined) return `response type ${badResponse} is not available (code only)`;
  const badType = listOf(metadata.authorization_details_types).find((t) => t !== STOCK_TRADE_TYPE);
  if (badType !== undefined) return `authorization_details_types ${badType} is not available to registered clients (${STOCK_TRADE_TYPE} only)`;
  const badScope = String(metadata.scope ?? "").split(" ").find((s) => s && !REGISTERED_CLIENT_SCOPES.has(s));
  if (badScope !== undefined) return `scope ${badScope} is not available to registered clients (${[...REGISTERED_CLIENT_SCOPES].join(" ")})`;
  for (const key of ["redirect_uris", "post_logout_redirect_uris"] as const) {
    const uris = listOf(metadata[key]);
    if (uris.length > MAX_URIS) return `at most ${MAX_URIS} ${key}`;
    const bad = uris.find((uri) => redirectUriProblem(uri) !== undefined);
    if (bad !== undefined) return `${key}: ${redirectUriProblem(bad)}`;
  }
  if (!listOf(metadata.redirect_uris).length) return "redirect_uris are required";
  return clientNameProblem(metadata.client_name, reservedNames);
}

/** RFC 8252 §7.3 / §8.3 and OAuth 2.1: https anywhere, http only to a loopback address. */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "not a URL";
  }
  if (url.hash || uri.includes("#")) return "a redirect URI must not have a fragment";
  if (url.username || url.password) return "a redirect URI must not carry credentials";
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  if (url.protocol === "http:") return "http redirect URIs must point to a loopback address (127.0.0.1, [::1] or localhost)";
  return `the ${url.protocol} scheme is not accepted (https, or http on a loopback address)`;
}

function clientNameProblem(name: unknown, reservedNames: string[]): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== "string" || name.length > MAX_NAME_LENGTH) return `client_name must be a string of at most ${MAX_NAME_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/.test(name)) return "client_name must not contain control or direction characters";
  const folded = fold(name);
  if (reservedNames.some((reserved) => folded.includes(fold(reserved)))) return "client_name names this server's own application";
  return undefined;
}

const fold = (s: string) => s.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");

function listOf(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/**
 * oidc-provider's `extraClientMetadata.validator`, run on every client it builds (configured,
 * registered, or from a metadata document) after its defaults are applied and before its own
 * checks. Hooked on `client_name`, which every client has a slot for.
 */
export function createClientMetadataValidator(policy: RegistrationPolicy) {
  return (_ctx: KoaContextWithOIDC | undefined, key: string, _value: unknown, metadata: Record<string, unknown>): void => {
    if (key !== "client_name" || policy.trustedClientIds.has(String(metadata.client_id))) return;
    const problem = registeredClientProblem(metadata, policy.reservedNames);
    if (problem) throw new errors.InvalidClientMetadata(problem);
    // oidc-provider lets a client ask only for the types it lists (none by default); a host that
    // lists none may still ask Alice to approve an order the resource server named to it.
    if (!listOf(metadata.authorization_details_types).length) metadata.authorization_details_types = [STOCK_TRADE_TYPE];
  };
}

/**
 * Before a Client ID Metadata Document is fetched: an HTTPS URL (oidc-provider checks the form:
 * https, no fragment, no credentials, no dot segments) of bounded length, without an explicit
 * port. The fetch itself is oidc-provider's: 2.5 s timeout, no redirects, at most 5 KiB, and its
 * connection is dropped when the host resolves to a loopback, private or otherwise special-use
 * address (helpers/fetch_request.js), so a `client_id` cannot make this server probe its own
 * network.
 */
export function allowMetadataDocumentFetch(clientId: string): boolean {
  if (clientId.length > MAX_CLIENT_ID_URL_LENGTH) return false;
  try {
    const url = new URL(clientId);
    return url.protocol === "https:" && url.port === "" && url.pathname !== "/";
  } catch {
    return false;
  }
}

/** True for a client that introduced itself (registered or by metadata document). */
export function isRegisteredClient(policy: RegistrationPolicy, clientId: string): boolean {
  return !policy.trustedClientIds.has(clientId);
}
