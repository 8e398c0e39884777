-- The agent loop (lib/agent): its persisted state machine, and what it needs on the orders and
-- approvals the foundation created, so that a restart resumes exactly where it stopped.

-- One row per agent. `order_id` is the order the dashboard features: the open one, or the last
-- one with its outcome. Token columns hold DECODED CLAIMS for the token inspector, never a token.
CREATE TABLE agent_state (
  agent_id TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('MONITORING', 'PROPOSING', 'AWAITING_APPROVAL', 'EXECUTING', 'DONE', 'DENIED', 'EXPIRED', 'FAILED')),
  order_id TEXT REFERENCES orders (order_id),
  reason TEXT,
  -- No new proposal before this instant (after a denial, expiry, failure or declined proposal).
  cooldown_until TIMESTAMPTZ,
  -- False after a trade until the price is back at or above the threshold: one trade per crash.
  armed BOOLEAN NOT NULL DEFAULT true,
  agent_token_claims JSONB,
  obo_token_claims JSONB,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The frozen order exactly as sent in authorization_details (the wire strings are compared
-- byte for byte with what the identity server grants), the model's raw proposal for the record,
-- and why the order ended as it did.
ALTER TABLE orders ADD COLUMN detail JSONB;
ALTER TABLE orders ADD COLUMN proposal JSONB;
ALTER TABLE orders ADD COLUMN status_reason TEXT;
ALTER TABLE orders ADD COLUMN trade_id BIGINT;

-- CIBA polling state (OpenID CIBA Core §7.3, §11): expiry and interval as the server
-- answered, how often polling failed in a row (back-off while the server is unreachable).
ALTER TABLE pending_approvals ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_approvals ADD COLUMN last_error TEXT;
ALTER TABLE pending_approvals ADD COLUMN decided_at TIMESTAMPTZ;
CREATE INDEX pending_approvals_status ON pending_approvals (status, next_poll_at);
CREATE INDEX orders_status ON orders (status, created_at DESC);
