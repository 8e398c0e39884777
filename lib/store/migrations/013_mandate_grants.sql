-- The agent's hold on a standing mandate's grant (lib/agent/mandate-grant-vault.ts): the grant's
-- refresh token and the mandate it was granted for, sealed as a JWE (dir + A256GCM) under a key
-- in app_secrets, so that the agent keeps its mandate across a restart and no row holds the token
-- in clear. One row per mandate the agent holds; deleted when the mandate is revoked (by Alice or
-- by the kill switch). `drawing_since` is set while a token is being drawn from the grant: the
-- server rotates the refresh token on every use, so a row found with it set after a crash may hold
-- a spent token, and the agent lets the mandate go rather than present it.
CREATE TABLE mandate_grants (
  mandate_id TEXT PRIMARY KEY REFERENCES mandates (mandate_id),
  agent_sub TEXT NOT NULL,
  sealed TEXT NOT NULL,
  drawing_since TIMESTAMPTZ,
  rotations INTEGER NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX mandate_grants_agent ON mandate_grants (agent_sub);
