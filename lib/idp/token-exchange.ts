import "server-only";
import { errors, type KoaContextWithOIDC, type Provider } from "oidc-provider";
import { ProtocolError } from "../errors";
import { ACCESS_TOKEN_TYPE } from "../protocol";
import type { OwnAccessToken, OwnTokenVerifier } from "./own-tokens";
import type { ResourcePolicy } from "./resource-server";
import { presetTokenClaims } from "./token-claims";

/**
 * OAuth 2.0 Token Exchange (RFC 8693), registered with oidc-provider's registerGrantType. The
 * agent trades a token it holds (the subject token) for a narrower one: a subset of its scopes
 * (§2.1 `scope`), for the one known resource (`resource` / `audience`), never longer-lived than
 * the subject token or the OBO lifetime. With an `actor_token` the new token names that actor in
 * `act` and keeps the earlier chain nested inside it (§4.1).
 *
 * Policy: both tokens must be this server's own access tokens issued to the requesting client,
 * and neither may be sender-constrained (refuseSenderConstrained).
 */
export const TOKEN_EXCHANGE_PARAMS = [
  "subject_token",
  "subject_token_type",
  "actor_token",
  "actor_token_type",
  "requested_token_type",
  "scope",
  "audience",
  "resource",
];

type Params = Record<string, string | undefined>;

export function createTokenExchangeHandler(verifyOwnToken: OwnTokenVerifier, resources: ResourcePolicy) {
  return async function tokenExchange(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Params;
    const client = ctx.oidc.client!;
    const provider = ctx.oidc.provider as Provider & { ResourceServer: new (id: string, info: object) => object };

    checkTokenTypes(params);
    const subject = await verify(verifyOwnToken, params.subject_token!, client.clientId, "subject_token");
    const actor = params.actor_token ? await verify(verifyOwnToken, params.actor_token, client.clientId, "actor_token") : undefined;
    refuseSenderConstrained(subject, "subject_token");
    if (actor) refuseSenderConstrained(actor, "actor_token");
    const scope = narrowScope(subject, params.scope);
    const resource = resources.resolveTarget([params.resource, params.audience]);

    const now = Math.floor(Date.now() / 1000);
    const expiresIn = Math.min(resources.oboTtlSeconds, (subject.exp ?? now) - now);
    if (expiresIn <= 0) throw new errors.InvalidGrant("subject_token is expired");

    const token = new provider.AccessToken({
      accountId: subject.sub,
      client,
      gty: "token_exchange",
      scope,
      expiresIn,
      ...(subject.authorization_details ? { rar: subject.authorization_details } : {}),
    } as never);
    (token as unknown as { resourceServer: object }).resourceServer = new provider.ResourceServer(resource, resources.info("user"));

    const act = actingParty(subject, actor);
    presetTokenClaims(token, { ...(subject.aut ? { aut: subject.aut } : {}), ...(act ? { act } : {}) });

    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: "Bearer",
      expires_in: expiresIn,
      scope,
      ...(subject.authorization_details ? { authorization_details: subject.authorization_details } : {}),
    };
  };
}

/**
 * A sender-constrained token (RFC 9449 `cnf`) is never exchanged: the new token would be a
 * bearer token with the same subject, scope and order, so whoever stole the bound token and the
 * client's secret could trade with it without the key. Exchange an unbound token, or none.
 */
function refuseSenderConstrained(token: OwnAccessToken, name: string): void {
  if (token.cnf !== undefined) {
    throw new errors.InvalidGrant(`${name} is sender-constrained (cnf) and cannot be exchanged for a bearer token`);
  }
}

/**
 * The new token's `act`: the actor becomes the outermost `act` and the subject's own chain stays
 * nested inside it (RFC 8693 §4.1). An actor that is already the current one adds no link.
 */
function actingParty(subject: OwnAccessToken, actor: OwnAccessToken | undefined): Record<string, unknown> | undefined {
  if (!actor || subject.act?.sub === actor.sub) return subject.act;
  return { sub: actor.sub, ...(subject.act ? { act: subject.act } : {}) };
}

function checkTokenTypes(params: Params) {
  if (!params.subject_token) throw new errors.InvalidRequest("missing required parameter 'subject_token'");
  if (!params.subject_token_type) throw new errors.InvalidRequest("missing required parameter 'subject_token_type'");
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`unsupported subject_token_type; this server accepts ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.actor_token && !params.actor_token_type) {
    throw new errors.InvalidRequest("actor_token_type is required when actor_token is present (RFC 8693 §2.1)");
  }
  if (!params.actor_token && params.actor_token_type) {
    throw new errors.InvalidRequest("actor_token_type must not be sent without actor_token (RFC 8693 §2.1)");
  }
  if (params.actor_token_type && params.actor_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`unsupported actor_token_type; this server accepts ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`unsupported requested_token_type; this server issues ${ACCESS_TOKEN_TYPE}`);
  }
}

async function verify(verifyOwnToken: OwnTokenVerifier, token: string, clientId: string, name: string): Promise<OwnAccessToken> {
  try {
    return await verifyOwnToken(token, clientId);
  } catch (error) {
    if (error instanceof ProtocolError) throw new errors.InvalidGrant(`${name} rejected: ${error.description}`);
    throw error;
  }
}

/** The requested scopes, each of which the subject token must already hold (default: all of them). */
function narrowScope(subject: OwnAccessToken, requested: string | undefined): string {
  const held = new Set((subject.scope ?? "").split(" ").filter(Boolean));
  const wanted = requested ? [...new Set(requested.split(" ").filter(Boolean))] : [...held];
  for (const scope of wanted) {
    if (!held.has(scope)) throw new errors.InvalidScope("requested scope exceeds the subject token's scope", scope);
  }
  if (wanted.length === 0) throw new errors.InvalidScope("the exchanged token would have no scope", "");
  return wanted.join(" ");
}
