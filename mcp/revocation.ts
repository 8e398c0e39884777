import "server-only";
import type { AgentIdentity, Principal } from "../lib/protected-resource/principal";
import { readAgentRevocation, type AgentRevocation } from "../lib/store/agent-revocations";
import type { Queryable } from "../lib/store/db";

/**
 * The kill switch as the resource server applies it. The agent's tokens are JWTs that the
 * authorization server cannot call back (oidc-provider refuses to revoke structured tokens,
 * lib/shared/reject_structured_tokens.js; WSO2 and Auth0 JWTs verify offline too), so a revoked
 * agent's token would stay valid at /mcp until it expires. This check closes that gap with the
 * record the kill switch writes (lib/store/agent-revocations.ts): a token is the agent's when the
 * agent is its subject, its actor (`act.sub`) or its client (`client_id`/`azp`), and such a token is
 * refused while the agent is revoked, or when it was issued (`iat`) before the cut-off of a
 * revocation that has since been lifted. A token without `iat` counts as issued before.
 *
 * Cost: the record is cached for `ttlMs` (one indexed primary-key read per TTL, not per call) and
 * only tokens of the agent look at it. The kill switch in this process hands the new record over
 * the event bus once it has committed (`invalidate(record)`), so the next call is refused without
 * waiting for the store (which is busy with the rest of the revocation); another instance sharing
 * the PostgreSQL store sees the change within `ttlMs` (250 ms by default, well inside the 1 s the
 * kill switch promises). A store error fails closed: the caller answers 503, never lets it pass.
 */
export const REVOCATION_CACHE_TTL_MS = 250;

export interface RevocationCheck {
  /** Why the token is refused, or undefined when the agent's revocation does not concern it. */
  refusal(principal: Principal): Promise<string | undefined>;
  /**
   * The kill switch just changed the record: take `record` as the current one (no store read, so
   * the very next call is checked against it), or forget the cached copy when none is given.
   */
  invalidate(record?: AgentRevocation): void;
}

export function createRevocationCheck(options: {
  db: Queryable;
  identity: AgentIdentity;
  ttlMs?: number;
  now?: () => number;
}): RevocationCheck {
  const ttl = options.ttlMs ?? REVOCATION_CACHE_TTL_MS;
  const now = options.now ?? Date.now;
  const ids = new Set([options.identity.agentId, options.identity.agentClientId]);
  let cached: { record: AgentRevocation | undefined; at: number } | undefined;
  let loading: Promise<AgentRevocation | undefined> | undefined;
  let generation = 0;

  async function current(): Promise<AgentRevocation | undefined> {
    if (cached && now() - cached.at < ttl) return cached.record;
    if (!loading) {
      const started = generation;
      const at = now();
      loading = readAgentRevocation(options.db, options.identity.agentId)
        .then((record) => {
          // A read that began before an invalidation may hold the old record: use it once, keep none.
          if (started === generation) cached = { record, at };
          return record;
        })
        .finally(() => {
          loading = undefined;
        });
    }
    return loading;
  }

  return {
    async refusal(principal) {
      if (!isAgentsToken(principal, ids)) return undefined;
      const record = await current();
      if (!record) return undefined;
      if (record.status === "revoked") return `The agent's access was revoked: ${record.reason}.`;
      if ((principal.issuedAt ?? 0) < record.notBefore) return "The token was issued before the agent's access was revoked.";
      return undefined;
    },
    invalidate(record) {
      generation++;
      cached = record ? { record, at: now() } : undefined;
      loading = undefined;
    },
  };
}

/** The agent is the token's subject, its current actor, or the client it was issued to. */
function isAgentsToken(p: Principal, ids: Set<string>): boolean {
  return ids.has(p.sub) || (p.actor !== null && ids.has(p.actor)) || (p.clientId !== null && ids.has(p.clientId));
}
