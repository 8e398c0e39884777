import "server-only";
import type { FetchLike } from "../auth/app-fetch";
import { getJson } from "../doctor/probes";
import type { ServerMetadata } from "./derive";

/**
 * What the assurance needs from the authorization server's discovery document (OpenID Connect
 * Discovery / RFC 8414): `authorization_details_types_supported` (RFC 9396 §10) and
 * `dpop_signing_alg_values_supported` (RFC 9449 §5.1). An absent member stays absent: that a
 * server does not advertise something is itself the answer.
 */
export function metadataFromDiscovery(doc: Record<string, unknown>): ServerMetadata {
  return { kind: "read", authorizationDetailsTypes: strings(doc.authorization_details_types_supported), dpopAlgorithms: strings(doc.dpop_signing_alg_values_supported) };
}

const strings = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : undefined);

/** A document read is kept this long; a failure is retried sooner. */
const KEEP_MS = 5 * 60_000;
const RETRY_MS = 15_000;
const cache = new Map<string, { until: number; value: Promise<ServerMetadata> }>();

/** The server's metadata from `discoveryUrl`, read at most once per KEEP_MS (per RETRY_MS after a failure). */
export function readServerMetadata(discoveryUrl: string, fetch: FetchLike, now: () => number = Date.now): Promise<ServerMetadata> {
  const hit = cache.get(discoveryUrl);
  if (hit && hit.until > now()) return hit.value;
  const entry = { until: now() + KEEP_MS, value: fetchMetadata(discoveryUrl, fetch) };
  cache.set(discoveryUrl, entry);
  void entry.value.then((m) => {
    if (m.kind === "unavailable") entry.until = now() + RETRY_MS;
  });
  return entry.value;
}

async function fetchMetadata(url: string, fetch: FetchLike): Promise<ServerMetadata> {
  const result = await getJson(fetch, url);
  if (result.kind === "unreachable") return { kind: "unavailable", reason: `unreachable: ${result.message}` };
  if (result.kind !== "json" || result.status !== 200) return { kind: "unavailable", reason: `HTTP ${result.status} from the discovery document` };
  return metadataFromDiscovery(result.body);
}
