-- The embedded authorization server (lib/idp): oidc-provider's models, its generated secrets,
-- the approvals it asked Alice for, and the embedded mailbox those requests were sent to.

-- One row per oidc-provider model instance (BackchannelAuthenticationRequest, Grant,
-- ClientCredentials, ReplayDetection, ...). `payload` is what oidc-provider stored; the other
-- columns are the secondary indexes its adapter interface looks up by. Expired rows are kept a
-- little while so that a late poll gets `expired_token` rather than `invalid_grant`.
CREATE TABLE idp_models (
  model TEXT NOT NULL,
  id TEXT NOT NULL,
  payload JSONB NOT NULL,
  grant_id TEXT,
  user_code TEXT,
  uid TEXT,
  expires_at TIMESTAMPTZ,
  PRIMARY KEY (model, id)
);
CREATE INDEX idp_models_grant_id ON idp_models (grant_id);
CREATE INDEX idp_models_user_code ON idp_models (user_code);
CREATE INDEX idp_models_uid ON idp_models (uid);
CREATE INDEX idp_models_expires_at ON idp_models (expires_at);

-- Generated development secrets: signing keys, cookie keys, the agent client secret and Alice's
-- password when the environment does not set them. Never committed, never logged after creation.
CREATE TABLE idp_secrets (
  name TEXT PRIMARY KEY,
  value JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per CIBA request sent to Alice. `handle` is the opaque id in the email links (never the
-- auth_req_id, which stays between the client and this server).
CREATE TABLE idp_approvals (
  handle TEXT PRIMARY KEY,
  auth_req_id TEXT NOT NULL UNIQUE,
  client_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  actor_sub TEXT,
  scope TEXT NOT NULL,
  binding_message TEXT,
  authorization_details JSONB,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
  grant_id TEXT,
  mail_id TEXT,
  expires_at TIMESTAMPTZ NOT NULL,
  decided_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idp_approvals_pending ON idp_approvals (account_id, status, expires_at);
CREATE INDEX idp_approvals_grant_id ON idp_approvals (grant_id);

-- The embedded mailbox behind /inbox: every mail the server sends is recorded here, also when
-- SMTP_URL delivers it for real.
CREATE TABLE idp_mailbox (
  seq BIGSERIAL UNIQUE,
  id TEXT PRIMARY KEY,
  message_id TEXT,
  from_address TEXT NOT NULL,
  to_address TEXT NOT NULL,
  subject TEXT NOT NULL,
  text_body TEXT NOT NULL,
  html_body TEXT NOT NULL,
  links JSONB,
  delivery TEXT NOT NULL CHECK (delivery IN ('mailbox', 'smtp', 'smtp_failed')),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  read_at TIMESTAMPTZ
);
