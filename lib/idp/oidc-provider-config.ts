import "server-only";
import { errors, type ClientMetadata, type Configuration, type JWK, type KoaContextWithOIDC } from "oidc-provider";
import type { AppConfig } from "../config";
import type { Queryable } from "../store/db";
import { createFindAccount, type InvestorAccounts } from "./accounts";
import { createAdapterFactory } from "./adapter";
import { CIBA_GRANT_TYPE, SCOPE_READ, SCOPE_TRADE, STOCK_TRADE_MANDATE_TYPE, STOCK_TRADE_TYPE } from "../protocol";
import { grantedMandate, mandateSecondsLeft, stockTradeMandateProblem, stockTrades, stockTradeProblem } from "./authorization-details";
import { backchannelRequestTtl, createCibaExtraParams, createCibaFeature, type CibaDeps } from "./ciba";
import type { ResourcePolicy } from "./resource-server";
import { createExtraTokenClaims, createJwtCustomizer } from "./token-claims";
import { LOGIN_PAGE_PATH } from "./login-page/views";
import { randomBytes } from "node:crypto";
import { pageCsp, renderFrame } from "./decision-page/layout";
import { escapeHtml } from "./html";
import { allowMetadataDocumentFetch, createClientMetadataValidator, isRegisteredClient, type RegistrationPolicy } from "./registration-policy";
import { challengedOrderProblem } from "./challenged-orders";
import type { StockTradeDetail } from "../orders/order";

/**
 * oidc-provider's configuration for the embedded server: which features are on and the hooks
 * that make it this app's server. Everything protocol-shaped (client authentication, CIBA,
 * token issuance, discovery, JWKS) is oidc-provider's own code.
 */
export interface OidcProviderConfigInput extends CibaDeps {
  accounts: InvestorAccounts;
  db: Queryable;
  config: AppConfig;
  clients: ClientMetadata[];
  signingKeys: JWK[];
  cookieKey: string;
  resources: ResourcePolicy;
  registration: RegistrationPolicy;
}

/** How long a registered client's sign-in lasts through refresh tokens (rotated on every use). */
export const REGISTERED_CLIENT_REFRESH_TTL_SECONDS = 8 * 3600;

export function buildOidcProviderConfiguration(input: OidcProviderConfigInput): Configuration {
  const { config, db, resources } = input;
  const cibaTtl = backchannelRequestTtl(config);
  return {
    adapter: createAdapterFactory(db),
    clients: input.clients,
    jwks: { keys: input.signingKeys },
    cookies: { keys: [input.cookieKey] },
    findAccount: createFindAccount(input.accounts),
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    scopes: ["openid", "email", "profile", "offline_access", SCOPE_READ, SCOPE_TRADE],
    // Refresh tokens: for the agent (a CIBA client) only for a grant that carries a standing
    // mandate (lib/standing-mandate/mandate.ts): the grant stands until the mandate expires and the
    // agent draws short-lived access tokens from it, each carrying the mandate; an approval of one
    // order never yields one. For a client that registered itself for refresh tokens (an MCP host,
    // registration-policy.ts): always; a public client's is rotated on every use.
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: { grantTypeAllowed(t: string): boolean }, source: { scopes: Set<string>; rar?: unknown[] }) => {
      if (!client.grantTypeAllowed("refresh_token")) return false;
      if (client.grantTypeAllowed(CIBA_GRANT_TYPE)) return source.scopes.has("offline_access") && grantedMandate(source.rar) !== undefined;
      // The approval of one order is used once: its code yields no refresh token.
      return !source.rar?.length;
    },
    // A standing mandate's refresh token is rotated on every use: the agent keeps it sealed in
    // the store (lib/agent/mandate-grant-vault.ts), and a copy taken from an old backup is spent
    // once the agent has drawn again (presenting a spent one revokes the grant). Every other
    // refresh token follows oidc-provider's default (lib/helpers/defaults.js rotateRefreshToken):
    // a public client's unless sender-constrained, any once 70% of its lifetime has passed.
    rotateRefreshToken: (ctx: KoaContextWithOIDC) => {
      const { RefreshToken: token, Client: client } = ctx.oidc.entities as {
        RefreshToken: { rar?: unknown[]; totalLifetime(): number; isSenderConstrained(): boolean; ttlPercentagePassed(): number };
        Client: { clientAuthMethod: string };
      };
      if (grantedMandate(token.rar) !== undefined) return true;
      if (token.totalLifetime() >= 365.25 * 24 * 60 * 60) return false;
      if (client.clientAuthMethod === "none" && !token.isSenderConstrained()) return true;
      return token.ttlPercentagePassed() >= 70;
    },
    extraParams: createCibaExtraParams(input.verifyOwnToken),
    // The browser flow is the authorization code flow with PKCE (S256, required of every client),
    // used by the dashboard for Alice's sign-in; the login page is ours (login-page/handler.ts).
    responseTypes: ["code"],
    pkce: { required: () => true },
    interactions: { url: async (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `${LOGIN_PAGE_PATH}/${interaction.uid}` },
    clientBasedCORS: () => false,
    // A failed authorization request shows the approval page's frame (no external assets, CSP),
    // not oidc-provider's default page, which loads a web font from a third party.
    renderError: async (ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }) => {
      const nonce = randomBytes(16).toString("base64");
      ctx.type = "html";
      ctx.set("Content-Security-Policy", pageCsp(nonce));
      ctx.set("X-Frame-Options", "DENY");
      ctx.set("Cache-Control", "no-store");
      ctx.body = renderFrame({
        title: "Sign-in failed",
        nonce,
        body: `<div class="result neutral" data-testid="idp-error"><div class="icon" aria-hidden="true">!</div>
<h1>That did not work</h1><p class="muted"><code>${escapeHtml(out.error ?? "server_error")}</code>${out.error_description ? `: ${escapeHtml(out.error_description)}` : ""}</p>
<p><a class="btn primary" style="display:inline-block;text-decoration:none" href="/auth/sign-in">Sign in again</a></p></div>`,
      });
    },
    // "none" is for public clients that registered themselves (registration-policy.ts); the
    // configured clients authenticate with their secrets.
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "none"],
    extraClientMetadata: { properties: ["client_name"], validator: createClientMetadataValidator(input.registration) as never },
    fetchResponseBodyLimits: { "client_id metadata document": 5 * 1024, jwks_uri: 0, sector_identifier_uri: 0 } as never,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      // RFC 7591 dynamic registration, open (MCP hosts register on first use), for public code-flow
      // clients only (registration-policy.ts). No registration access token: a registered client
      // cannot read or change its record later (RFC 7592 is off).
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
      // OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00, which
      // oidc-provider implements as "draft-02"): an HTTPS client_id is fetched under the guards of
      // allowMetadataDocumentFetch and then held to the same rules as a registered client.
      clientIdMetadataDocument: {
        enabled: true,
        ack: "draft-02",
        allowFetch: async (_ctx: unknown, clientId: string) => allowMetadataDocumentFetch(clientId),
        cacheDuration: { min: 60, max: 3600 },
      },
      // RFC 9449: a token request with a DPoP proof gets a token bound to the proof's key
      // (`token_type: DPoP`, `cnf.jkt`); the agent sends one with client credentials and every
      // CIBA poll. A proof is used once (replays are refused through the adapter's
      // ReplayDetection); no server nonce, since the proof's iat window is enough for a token
      // endpoint on this machine. Clients may still ask without a proof and get a bearer token.
      dPoP: { enabled: true, allowReplay: false },
      ciba: createCibaFeature(input) as never,
      resourceIndicators: {
        enabled: true,
        defaultResource: resources.defaultResource as never,
        getResourceServerInfo: resources.getResourceServerInfo as never,
        // The token for a CIBA request is for the resource it asked for (the MCP server), also
        // when the scope includes openid (oidc-provider would otherwise issue a userinfo token).
        useGrantedResource: async () => true,
      },
      richAuthorizationRequests: {
        enabled: true,
        types: {
          [STOCK_TRADE_TYPE]: {
            // A registered client (an MCP host) may ask only for an order the resource server
            // named to it in a transaction challenge (challenged-orders.ts).
            async validate(_ctx: KoaContextWithOIDC, detail: unknown, client: { clientId: string }) {
              const problem =
                stockTradeProblem(detail) ??
                (isRegisteredClient(input.registration, client.clientId) ? await challengedOrderProblem(db, detail as StockTradeDetail, client.clientId, undefined) : undefined);
              if (problem) throw new errors.InvalidAuthorizationDetails(problem);
            },
          },
          [STOCK_TRADE_MANDATE_TYPE]: {
            validate(_ctx: KoaContextWithOIDC, detail: unknown, client: { clientId: string }) {
              if (isRegisteredClient(input.registration, client.clientId)) {
                throw new errors.InvalidAuthorizationDetails(`${STOCK_TRADE_MANDATE_TYPE} is not available to registered clients`);
              }
              const problem = stockTradeMandateProblem(detail);
              if (problem) throw new errors.InvalidAuthorizationDetails(problem);
            },
          },
        },
        // CIBA: the token carries exactly what the user approved (stored with the request by
        // backchannelResult). Client credentials never carry an order: the agent cannot grant
        // itself a trade by asking for one.
        async authorizationDetailsForAccessToken(
          ctx: KoaContextWithOIDC,
          token: { scope?: string },
          source: { rar?: unknown[]; accountId?: string } | undefined,
          grantType: string,
        ) {
          // The code flow grants authorization details only to a registered client (an MCP host),
          // only the one order Alice consented to after the resource server's transaction
          // challenge, checked once more here; the token then also carries stock:trade (the scope
          // that comes only with an approved order) and no refresh token is issued for it. Its
          // refresh tokens, and the dashboard's, carry none. The one refresh token that carries
          // some is the agent's for a standing mandate (issueRefreshToken above): each token
          // drawn from it carries that mandate.
          const client = ctx.oidc.client as { clientId: string; grantTypeAllowed?(t: string): boolean } | undefined;
          const ciba = client?.grantTypeAllowed?.(CIBA_GRANT_TYPE) === true;
          if (grantType === "refresh_token" && ciba && grantedMandate(source?.rar) !== undefined) return source?.rar as never;
          if (grantType === "authorization_code" && source?.rar?.length && client && isRegisteredClient(input.registration, client.clientId)) {
            const order = source.rar.length === 1 ? stockTrades(source.rar)[0] : undefined;
            const problem = order ? await challengedOrderProblem(db, order, client.clientId, source.accountId) : "the approval must name exactly one order";
            if (problem) throw new errors.InvalidGrant(problem);
            token.scope = [...new Set([...(token.scope ?? "").split(" ").filter(Boolean), SCOPE_TRADE])].join(" ");
            return source.rar as never;
          }
          if (grantType === "authorization_code" || grantType === "refresh_token") {
            if (source?.rar?.length) throw new errors.InvalidAuthorizationDetails("the authorization code flow grants no authorization details here");
            return undefined as never;
          }
          if (grantType === "client_credentials") {
            throw new errors.InvalidAuthorizationDetails("client credentials tokens carry no authorization details");
          }
          if ((ctx.oidc.params as Record<string, unknown>).authorization_details !== undefined) {
            throw new errors.InvalidAuthorizationDetails("authorization_details are fixed at approval and cannot be changed at the token endpoint");
          }
          return source?.rar as never;
        },
        // A code carries the details this request asked for, and only those Alice's grant approved
        // (saveConsentGrant adds the order she consented to); a grant's earlier approvals never
        // travel into a later code.
        authorizationDetailsForGrantSource: (ctx: KoaContextWithOIDC, source: { rar?: unknown[] }) => {
          if (source.rar) return source.rar as never;
          const asked = (ctx.oidc.params as Record<string, unknown> | undefined)?.authorization_details;
          if (typeof asked !== "string") return undefined as never;
          // Compared with keys sorted: the grant comes back from a JSONB column, which reorders them.
          const canonical = (d: unknown) => JSON.stringify(Object.entries(d as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
          const approved = ((ctx.oidc.grant as { rar?: unknown[] } | undefined)?.rar ?? []).map(canonical);
          const details = JSON.parse(asked) as unknown[];
          return (details.every((d) => approved.includes(canonical(d))) ? details : undefined) as never;
        },
        authorizationDetailsForIntrospection: (_ctx: unknown, token: { rar?: unknown[] }) => token.rar as never,
      } as never,
    },
    // A replayed auth_req_id gets invalid_grant and issues nothing, but does not revoke the grant
    // (oidc-provider's default for any replayed code): a duplicate poll that loses the race to
    // redeem the request would otherwise delete the grant while the winner is still issuing its
    // token, and Alice's approval would yield no token at all. Issued access tokens are JWTs the
    // resource server checks on their own, so revoking the grant would not withdraw them anyway.
    revokeGrantPolicy: (ctx: KoaContextWithOIDC) =>
      !(ctx.oidc.route === "token" && (ctx.oidc.params as Record<string, unknown> | undefined)?.grant_type === CIBA_GRANT_TYPE),
    extraTokenClaims: createExtraTokenClaims(config, db) as never,
    formats: { customizers: { jwt: createJwtCustomizer(config) as never } },
    ttl: {
      BackchannelAuthenticationRequest: cibaTtl as never,
      AccessToken: ((_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? config.idp.oboTokenTtlSeconds) as never,
      ClientCredentials: ((_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? 600) as never,
      Grant: ((_ctx: unknown, _grant: unknown, client: { grantTypeAllowed?(type: string): boolean } | undefined) =>
        client?.grantTypeAllowed?.("refresh_token") && !client.grantTypeAllowed(CIBA_GRANT_TYPE)
          ? REGISTERED_CLIENT_REFRESH_TTL_SECONDS
          : config.idp.cibaMaxExpirySeconds + 600) as never,
      // A rotated refresh token keeps what was left of its predecessor's lifetime: a stolen one
      // cannot stretch the sign-in.
      // A mandate's refresh token lives no longer than the mandate. A registered client's rotated
      // refresh token keeps what was left of its predecessor's lifetime: a stolen one cannot
      // stretch the sign-in.
      RefreshToken: ((ctx: KoaContextWithOIDC | undefined, token: { rar?: unknown[] }) =>
        grantedMandate(token.rar) !== undefined
          ? mandateSecondsLeft(token.rar)
          : ((ctx?.oidc?.entities as { RotatedRefreshToken?: { remainingTTL: number } } | undefined)?.RotatedRefreshToken?.remainingTTL ??
            REGISTERED_CLIENT_REFRESH_TTL_SECONDS)) as never,
      IdToken: config.idp.oboTokenTtlSeconds,
      Interaction: 600,
      Session: 600,
    },
  };
}
