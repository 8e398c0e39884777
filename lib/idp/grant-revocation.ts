import "server-only";
import { errors, type Provider } from "oidc-provider";
import type { Queryable } from "../store/db";

/**
 * Withdraws what one CIBA request produced (a standing mandate's grant): the grant itself, with
 * its refresh tokens and access tokens, so the client can draw no new token from it; a request
 * still waiting for the user is cancelled instead (the approval page says so, a poll gets
 * access_denied). The JWT access tokens already issued are not stored and stay valid until they
 * expire: the resource server's own record of the mandate refuses them.
 */
export async function revokeGrantOfRequest(provider: Provider, db: Queryable, authReqId: string, reason: string): Promise<"revoked" | "cancelled" | "unknown"> {
  const cancelled = await db.query<{ auth_req_id: string }>(
    "UPDATE idp_approvals SET status = 'cancelled', decided_at = now() WHERE auth_req_id = $1 AND status = 'pending' RETURNING auth_req_id",
    [authReqId],
  );
  if (cancelled.length) {
    const request = await provider.BackchannelAuthenticationRequest.find(authReqId, { ignoreExpiration: true });
    if (request && !request.grantId && !request.error && !request.consumed) {
      await provider.backchannelResult(request, new errors.AccessDenied(`the request was cancelled: ${reason}`));
    }
    return "cancelled";
  }
  const [row] = await db.query<{ grant_id: string | null }>("SELECT grant_id FROM idp_approvals WHERE auth_req_id = $1", [authReqId]);
  if (!row?.grant_id) return "unknown";
  await revokeGrant(provider, row.grant_id);
  return "revoked";
}

/** The grant, and every token and request stored under it. */
export async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  await Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.BackchannelAuthenticationRequest.revokeByGrantId(grantId),
  ]);
  const grant = await provider.Grant.find(grantId);
  await grant?.destroy();
}
