import { z } from "zod";

/**
 * Who is calling: the verified token's claims reduced to what the tools decide on and what the
 * audit log records. Built by verify-access-token.ts; tools read it from the context they are
 * given.
 *
 * - `sub` is the subject the token speaks for: the user for an on-behalf-of token, the agent for
 *   its own token.
 * - `actor` is the current actor: `act.sub` (RFC 8693 §4.1), or `azp`/`client_id` for
 *   Auth0-style user tokens that carry no `act`. Nested `act` claims are earlier actors: kept in
 *   `actorChain` for the audit log, never used to authorize.
 */
export interface Principal {
  sub: string;
  subjectKind: "user" | "agent";
  actor: string | null;
  /** The whole `act` claim as received (nested chain included), or null. */
  actorChain: unknown;
  clientId: string | null;
  jti: string | null;
  scopes: string[];
  /** The raw `authorization_details` claim; undefined when the token has none. */
  authorizationDetails: unknown[] | undefined;
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
  /** `iat`, seconds since the epoch, or null when the token has none (the kill switch's cut-off). */
  issuedAt: number | null;
  /**
   * The key the token is bound to (RFC 7800 `cnf`), or null for a bearer token. `jkt` is a DPoP
   * key thumbprint (RFC 9449 §6.1), the one confirmation method this server checks; a `cnf`
   * without it, or with another method beside it (an mTLS certificate thumbprint, RFC 8705), is
   * `{ jkt: null }`: bound to something this server cannot verify, so the gate refuses the token.
   */
  confirmation: { jkt: string | null } | null;
}

const Act: z.ZodType<{ sub: string; act?: unknown }> = z.looseObject({
  sub: z.string().min(1).max(256),
  act: z.unknown().optional(),
});

/** The claims we read. Anything malformed here makes the whole token invalid. */
export const AccessTokenClaims = z.looseObject({
  sub: z.string().min(1).max(256),
  exp: z.number(),
  iat: z.number().optional(),
  jti: z.string().min(1).max(256).optional(),
  /**
   * RFC 9068 §2.2.3 / RFC 8693 §4.2: a space-separated string. WSO2 sends a JSON array of strings
   * instead when enableJwtScopeAsArray is on (identity-inbound-auth-oauth JWTTokenIssuer). Any
   * other shape makes the token invalid.
   */
  scope: z.union([z.string().max(2048), z.array(z.string().max(256)).max(64)]).optional(),
  /** Some servers (Okta, Entra) send scopes as an array. */
  scp: z.array(z.string().max(256)).max(64).optional(),
  client_id: z.string().min(1).max(256).optional(),
  azp: z.string().min(1).max(256).optional(),
  act: Act.optional(),
  authorization_details: z.array(z.unknown()).max(32).optional(),
  /** WSO2 marks agent identities with `aut: "AGENT"` (users: APPLICATION_USER). */
  aut: z.string().max(64).optional(),
  agent: z.boolean().optional(),
  /** Auth0 marks client-credentials tokens with `gty: "client-credentials"`. */
  gty: z.string().max(64).optional(),
  /** RFC 7800 confirmation; `jkt` = base64url SHA-256 JWK thumbprint (43 characters). */
  cnf: z.looseObject({ jkt: z.string().regex(/^[A-Za-z0-9_-]{43}$/).optional() }).optional(),
});
export type AccessTokenClaims = z.infer<typeof AccessTokenClaims>;

export interface AgentIdentity {
  /** The agent's user id (config.agent.id). */
  agentId: string;
  /** The agent's OAuth client id (config.auth.agentClientId). */
  agentClientId: string;
}

/**
 * Decides whether the token's subject is an agent. A token with `act` is on behalf of its `sub`
 * (a user). Without `act`, the subject is an agent when it is the configured agent, when the
 * identity server marks it as one, or when it is a client-credentials token (`sub` is the client
 * itself, `<client>@clients` at Auth0).
 */
export function isAgentSubject(claims: AccessTokenClaims, agent: AgentIdentity): boolean {
  if (claims.act) return false;
  const client = claims.client_id ?? claims.azp;
  return (
    claims.sub === agent.agentId ||
    claims.sub === agent.agentClientId ||
    claims.aut?.toUpperCase() === "AGENT" ||
    claims.agent === true ||
    claims.gty === "client-credentials" ||
    (client !== undefined && (claims.sub === client || claims.sub === `${client}@clients`))
  );
}

export function toPrincipal(claims: AccessTokenClaims, agent: AgentIdentity): Principal {
  const listed = typeof claims.scope === "string" ? claims.scope.split(" ") : (claims.scope ?? []);
  const scopes = new Set<string>([...listed, ...(claims.scp ?? [])]);
  scopes.delete("");
  const clientId = claims.client_id ?? claims.azp ?? null;
  return {
    sub: claims.sub,
    subjectKind: isAgentSubject(claims, agent) ? "agent" : "user",
    actor: claims.act?.sub ?? (clientId !== null && clientId !== claims.sub ? clientId : null),
    actorChain: claims.act ?? null,
    clientId,
    jti: claims.jti ?? null,
    scopes: [...scopes],
    authorizationDetails: claims.authorization_details,
    expiresAt: claims.exp,
    issuedAt: claims.iat ?? null,
    confirmation: claims.cnf ? { jkt: onlyJkt(claims.cnf) ? (claims.cnf.jkt ?? null) : null } : null,
  };
}

/** True when `cnf` names no confirmation method but `jkt`: every binding it states can be checked. */
function onlyJkt(cnf: Record<string, unknown>): boolean {
  return Object.keys(cnf).every((method) => method === "jkt");
}
