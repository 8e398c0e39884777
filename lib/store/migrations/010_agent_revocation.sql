-- The kill switch: Alice revokes her agent. One row per agent, read by the resource server on
-- every /mcp call of that agent (through a short cache), written by lib/kill-switch.

-- status 'revoked': every token of the agent (its own, and any token naming it as the actor or the
-- client) is refused. status 'enabled' after a re-enable: tokens issued before `not_before`
-- (seconds since the epoch, compared with the token's `iat`) stay refused.
-- `completed_at` is NULL while the revocation's steps (agent stopped, approvals cancelled,
-- grants revoked at the authorization server) have not all finished; start-up finishes them.
CREATE TABLE agent_revocations (
  agent_id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('revoked', 'enabled')),
  reason TEXT NOT NULL,
  revoked_at TIMESTAMPTZ NOT NULL,
  completed_at TIMESTAMPTZ,
  not_before BIGINT NOT NULL,
  reenabled_at TIMESTAMPTZ,
  version BIGINT NOT NULL DEFAULT 1
);

-- The embedded server cancels the pending CIBA requests of a revoked client: they can no longer
-- be approved, and the approval page says why.
ALTER TABLE idp_approvals DROP CONSTRAINT idp_approvals_status_check;
ALTER TABLE idp_approvals ADD CONSTRAINT idp_approvals_status_check CHECK (status IN ('pending', 'approved', 'denied', 'cancelled'));
