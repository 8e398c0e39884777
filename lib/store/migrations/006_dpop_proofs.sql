-- DPoP proofs the MCP resource server has accepted (RFC 9449 §11.1): a proof's `jti` is used at
-- most once per key. A row lives until its proof's `iat` is outside the accepted window, so a
-- replay is refused until the proof would be refused as stale anyway; being in the store, the
-- record survives a restart and is shared by every instance on one PostgreSQL.
CREATE TABLE dpop_proofs (
  jkt TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
