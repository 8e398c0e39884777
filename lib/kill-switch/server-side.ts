import "server-only";
import type { Runtime } from "../runtime";

/**
 * What the authorization server itself withdraws when Alice revokes the agent, per profile. The
 * resource server's revocation record (mcp/revocation.ts) refuses the agent's tokens in every
 * profile; this is the part at the server that issued them. Returns a sentence for the activity log.
 *
 * - embedded (oidc-provider): the agent client's secret is replaced by one nobody holds
 *   (invalid_client for the old one from now on), its pending CIBA requests end with
 *   access_denied and cannot be approved, and its grants are revoked with their stored tokens
 *   (lib/idp/client-revocation.ts). Its access tokens are JWTs that oidc-provider neither stores
 *   nor revokes (its revocation endpoint answers unsupported_token_type for them).
 * - WSO2 and Auth0: nothing is called from here. The app holds only the agent's client
 *   credentials, and neither server lets a client disable itself or rotate its own secret:
 *   docs/wso2.md and docs/auth0.md say what the administrator does (WSO2: revoke the agent's
 *   tokens at /oauth2/revoke, regenerate the secret or disable the application; Auth0: rotate the
 *   secret through the Management API, delete the client grant; Auth0's /oauth/revoke takes only
 *   refresh tokens, which the agent has none of).
 */
export async function serverSideRevocation(rt: Runtime, reason: string): Promise<string> {
  if (rt.idp) {
    const r = await rt.idp.revokeAgentClient(reason);
    return `at the authorization server: its secret replaced, ${r.cancelledRequests} pending approval request(s) cancelled, ${r.revokedGrants} grant(s) revoked.`;
  }
  const where = rt.config.auth.provider === "wso2" ? "docs/wso2.md" : "docs/auth0.md";
  return `${rt.config.auth.provider} cannot be told by this app to revoke the agent's client: see ${where} for what the administrator does there.`;
}
