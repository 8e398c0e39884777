import "server-only";
import { errors, type ClientMetadata, type Provider } from "oidc-provider";
import { appendAudit } from "../audit/chain";
import type { Queryable } from "../store/db";
import { createAdapterFactory } from "./adapter";
import { revokeGrant } from "./grant-revocation";
import { randomSecret } from "./secrets";

/**
 * Revoking a client at the embedded server, and giving it a new secret. The agent's client is
 * stored through the adapter (model "Client") rather than listed as a static client, so that its
 * secret can change while the server runs; its current secret is the stored
 * `agent_client_secret_rotated` once it has been rotated, else the configured or generated one.
 *
 * What oidc-provider can withdraw, and what it cannot:
 * - its revocation endpoint (RFC 7009) refuses structured tokens (lib/shared/
 *   reject_structured_tokens.js answers unsupported_token_type), and every access token here is a
 *   JWT it does not store: those are refused by the resource server's revocation record instead;
 * - grants are stored, and revoking one deletes the grant, its access tokens and its CIBA
 *   requests, as lib/helpers/revoke.js does for a revoked token's grant;
 * - a pending CIBA request is ended with access_denied (provider.backchannelResult), so it can no
 *   longer be approved and a poll gets a proper error;
 * - the client's secret is replaced by one nobody holds, so the old one is refused
 *   (invalid_client) at the token and backchannel endpoints from that moment.
 */
export const ROTATED_SECRET = "agent_client_secret_rotated";

/** The agent client's current secret: the rotated one when there is one, else `initial`. */
export async function currentClientSecret(db: Queryable, initial: string): Promise<{ secret: string; rotated: boolean }> {
  const rows = await db.query<{ value: string }>("SELECT value FROM idp_secrets WHERE name = $1", [ROTATED_SECRET]);
  return rows[0] ? { secret: rows[0].value, rotated: true } : { secret: initial, rotated: false };
}

/** Stores the client's metadata where oidc-provider's Client.find looks it up (the adapter). */
export async function saveClient(db: Queryable, metadata: ClientMetadata): Promise<void> {
  await createAdapterFactory(db)("Client").upsert(metadata.client_id, metadata as never);
}

/** A new secret for the client, stored first (it survives a restart), then in the client's metadata. */
export async function rotateClientSecret(db: Queryable, metadataFor: (secret: string) => ClientMetadata): Promise<string> {
  const secret = randomSecret();
  await db.query(
    `INSERT INTO idp_secrets (name, value) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, created_at = now()`,
    [ROTATED_SECRET, JSON.stringify(secret)],
  );
  await saveClient(db, metadataFor(secret));
  return secret;
}

export interface ClientRevocationResult {
  cancelledRequests: number;
  revokedGrants: number;
}

/**
 * Withdraws everything the client holds here: its secret, its pending CIBA requests, its grants.
 * Safe to run again (after a crash half-way, or twice): each step finds nothing left to do.
 */
export async function revokeClientAccess(
  provider: Provider,
  db: Queryable,
  a: { clientId: string; reason: string; metadataFor: (secret: string) => ClientMetadata },
): Promise<ClientRevocationResult> {
  await rotateClientSecret(db, a.metadataFor);
  const cancelledRequests = await cancelPendingRequests(provider, db, a.clientId, a.reason);
  const revokedGrants = await revokeGrants(provider, db, a.clientId);
  await appendAudit(db, {
    source: "authorization_server",
    event: "client.revoked",
    decision: "revoked",
    reason: `${a.reason}; secret replaced, ${cancelledRequests} pending request(s) cancelled, ${revokedGrants} grant(s) revoked`,
    clientId: a.clientId,
  });
  return { cancelledRequests, revokedGrants };
}

/** Pending CIBA requests of the client: cancelled for the approval page, access_denied for a poll. */
async function cancelPendingRequests(provider: Provider, db: Queryable, clientId: string, reason: string): Promise<number> {
  const rows = await db.query<{ auth_req_id: string }>(
    "UPDATE idp_approvals SET status = 'cancelled', decided_at = now() WHERE client_id = $1 AND status = 'pending' RETURNING auth_req_id",
    [clientId],
  );
  // Also requests whose row was cancelled by an earlier, interrupted run: ending one twice is harmless.
  const earlier = await db.query<{ auth_req_id: string }>(
    "SELECT auth_req_id FROM idp_approvals WHERE client_id = $1 AND status = 'cancelled' AND expires_at > now()",
    [clientId],
  );
  const ids = new Set([...rows, ...earlier].map((r) => r.auth_req_id));
  for (const id of ids) {
    const request = await provider.BackchannelAuthenticationRequest.find(id, { ignoreExpiration: true });
    if (!request || request.grantId || request.error || request.consumed) continue;
    await provider.backchannelResult(request, new errors.AccessDenied(`the request was cancelled: ${reason}`));
  }
  return rows.length;
}

/** Every grant of the client, with the access tokens and CIBA requests stored under it. */
async function revokeGrants(provider: Provider, db: Queryable, clientId: string): Promise<number> {
  const grants = await db.query<{ id: string }>("SELECT id FROM idp_models WHERE model = 'Grant' AND payload->>'clientId' = $1", [clientId]);
  // Refresh tokens too: a standing mandate's grant has one.
  for (const { id } of grants) await revokeGrant(provider, id);
  return grants.length;
}
