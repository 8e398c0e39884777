import "server-only";
import { errors, type Provider } from "oidc-provider";
import type { Queryable } from "../../store/db";
import { auditCibaDecided } from "../audit";
import { grantedMandate, mandateSecondsLeft } from "../authorization-details";
import { type StoredCibaRequest, recordCibaDecision, setCibaRequestGrant } from "../ciba-requests";

function mandateOf(request: { params?: unknown }): unknown[] | undefined {
  const raw = (request.params as Record<string, unknown> | undefined)?.authorization_details;
  const details = typeof raw === "string" ? (JSON.parse(raw) as unknown[]) : undefined;
  return grantedMandate(details) ? details : undefined;
}

/**
 * Turns the user's decision into the CIBA result (OpenID CIBA Core §10, via oidc-provider's
 * provider.backchannelResult): on approval a Grant for exactly the requested scopes and resource,
 * with the order as the granted authorization_details; on denial `access_denied`. The decision is
 * recorded first and only once (see recordCibaDecision), so a second click or a second tab changes
 * nothing.
 */
const OIDC_SCOPES = new Set(["openid", "email", "profile", "offline_access"]);

export type DecisionOutcome = "approved" | "denied" | "not_pending";

export async function decide(provider: Provider, db: Queryable, cibaRequest: StoredCibaRequest, decision: "approve" | "deny"): Promise<DecisionOutcome> {
  const request = await provider.BackchannelAuthenticationRequest.find(cibaRequest.authReqId, { ignoreExpiration: true });
  if (!request || request.isExpired || request.grantId || request.error || request.consumed) return "not_pending";
  if (!(await recordCibaDecision(db, cibaRequest.handle, decision === "approve" ? "approved" : "denied"))) return "not_pending";
  await auditCibaDecided(db, cibaRequest, decision === "approve" ? "approved" : "denied");

  if (decision === "deny") {
    await provider.backchannelResult(request, new errors.AccessDenied("the user denied the request"));
    return "denied";
  }

  const scopes = (request.scope ?? "").split(" ").filter(Boolean);
  // A standing mandate's grant stands until the mandate expires (its refresh token draws on it);
  // an order's has the configured TTL.
  const mandate = mandateOf(request);
  const grant = new provider.Grant({
    accountId: request.accountId!,
    clientId: request.clientId!,
    ...(mandate ? { expiresIn: mandateSecondsLeft(mandate) } : {}),
  } as never);
  grant.addOIDCScope(scopes.filter((s) => OIDC_SCOPES.has(s)).join(" "));
  for (const resource of [request.resource ?? []].flat()) grant.addResourceScope(resource, scopes.join(" "));
  const grantId = await grant.save();
  // Remember which grant came from this request (the token's `act` is looked up through it).
  await setCibaRequestGrant(db, cibaRequest.handle, grantId);

  const params = (request.params ?? {}) as Record<string, unknown>;
  const rar = typeof params.authorization_details === "string" ? (JSON.parse(params.authorization_details) as never) : undefined;
  await provider.backchannelResult(request, grant, { authTime: Math.floor(Date.now() / 1000), amr: ["pwd"], rar } as never);
  return "approved";
}
