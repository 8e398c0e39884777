import "server-only";
import type { Provider } from "oidc-provider";
import { SCOPE_READ } from "../../protocol";
import type { StockTradeDetail } from "../../orders/order";
import { stockTrades } from "../authorization-details";

/**
 * The consent step for a client that registered itself (an MCP host): what it asked for, split
 * into what Alice can grant here and what is never granted, and the grant that records her "Allow".
 *
 * Only reading can be consented to: OpenID scopes (`openid profile email`) and `stock:read` on the
 * MCP resource (RFC 8707 indicator = its URL). Anything else it asked for is rejected in the grant
 * (oidc-provider then issues the token without it instead of asking again). Trading is granted
 * only as the approval of one exact order: a request whose `authorization_details` name an order
 * the resource server named to this client in a transaction challenge (../challenged-orders.ts,
 * checked by the caller) shows that order, and "Approve" adds it to a new grant; the token for it
 * carries that order and stock:trade, and nothing else trades.
 */
export const CONSENT_OIDC_SCOPES: ReadonlySet<string> = new Set(["openid", "profile", "email"]);

interface PromptDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
  /** oidc-provider's `rar_prompt` check: the request's authorization_details. */
  rar?: unknown[];
}

export interface ConsentRequest {
  /** Scopes Alice may grant, in the order shown. */
  grantable: { oidc: string[]; resource: Array<{ indicator: string; scopes: string[] }> };
  /** Asked for, never granted here (shown so she sees what the client wanted). */
  refused: string[];
  /** The one order the request asks her to approve, if it asks for authorization_details. */
  order?: StockTradeDetail;
  /** The request asked for authorization_details that are not exactly one order. */
  unusableDetails?: boolean;
}

export function consentRequestOf(details: { prompt: { details: unknown } }, resourceUrl: string): ConsentRequest {
  const d = (details.prompt.details ?? {}) as PromptDetails;
  const oidc = (d.missingOIDCScope ?? []).filter((s) => CONSENT_OIDC_SCOPES.has(s));
  const refused: string[] = [];
  const resource: ConsentRequest["grantable"]["resource"] = [];
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
    const readable: string[] = indicator === resourceUrl ? scopes.filter((s) => s === SCOPE_READ) : [];
    refused.push(...scopes.filter((s) => !readable.includes(s)).map((s) => `${s} (${indicator})`));
    if (readable.length) resource.push({ indicator, scopes: readable });
  }
  // oidc-provider also lists the resource's scopes among the OpenID ones (they are configured
  // scopes); one granted on the resource is not refused.
  const onResource = new Set(resource.flatMap((r) => r.scopes));
  refused.unshift(...(d.missingOIDCScope ?? []).filter((s) => !CONSENT_OIDC_SCOPES.has(s) && !onResource.has(s)));
  if (d.rar === undefined) return { grantable: { oidc, resource }, refused };
  const orders = stockTrades(d.rar);
  return orders.length === 1 && d.rar.length === 1 ? { grantable: { oidc, resource }, refused, order: orders[0] } : { grantable: { oidc, resource }, refused, unusableDetails: true };
}

/** Saves the grant for "Allow": the grantable scopes added, everything else asked for rejected. */
export async function saveConsentGrant(
  provider: Provider,
  details: { grantId?: string; prompt: { details: unknown }; params?: unknown },
  accountId: string,
  clientId: string,
  resourceUrl: string,
): Promise<string> {
  const d = (details.prompt.details ?? {}) as PromptDetails;
  const request = consentRequestOf(details, resourceUrl);
  // An order is approved in a grant of its own: an earlier grant's approvals never mix with it.
  const existing = details.grantId && !request.order ? await provider.Grant.find(details.grantId) : undefined;
  const grant = existing && existing.accountId === accountId && existing.clientId === clientId ? existing : new provider.Grant({ accountId, clientId });
  if (request.order) {
    grant.addRar(request.order);
    // A fresh grant: what the request asks to read is granted again with it (an earlier grant may have held it).
    const asked = String((details as { params?: { scope?: unknown } }).params?.scope ?? "").split(" ");
    const oidc = asked.filter((s) => CONSENT_OIDC_SCOPES.has(s));
    if (oidc.length) grant.addOIDCScope(oidc.join(" "));
    if (asked.includes(SCOPE_READ)) grant.addResourceScope(resourceUrl, SCOPE_READ);
  }
  if (request.grantable.oidc.length) grant.addOIDCScope(request.grantable.oidc.join(" "));
  const rejectedOidc = (d.missingOIDCScope ?? []).filter((s) => !CONSENT_OIDC_SCOPES.has(s));
  if (rejectedOidc.length) grant.rejectOIDCScope(rejectedOidc.join(" "));
  if (d.missingOIDCClaims?.length) grant.rejectOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
    const granted = request.grantable.resource.find((r) => r.indicator === indicator)?.scopes ?? [];
    if (granted.length) grant.addResourceScope(indicator, granted.join(" "));
    const rejected = scopes.filter((s) => !granted.includes(s));
    if (rejected.length) grant.rejectResourceScope(indicator, rejected.join(" "));
  }
  return grant.save();
}
