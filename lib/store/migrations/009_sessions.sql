-- Alice's signed-in sessions on the dashboard (lib/session). The cookie carries a random session
-- id, sealed; the store keeps only its SHA-256, so reading this table gives no one a cookie.
-- Signing out deletes the row, which ends the session everywhere at once.
CREATE TABLE app_sessions (
  id_hash TEXT PRIMARY KEY,
  sub TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX app_sessions_expires_at ON app_sessions (expires_at);

-- Secrets of the app itself (not of the embedded identity server): the key that seals its
-- cookies. Generated on first use, shared by every instance on the same store.
CREATE TABLE app_secrets (
  name TEXT PRIMARY KEY,
  value JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
