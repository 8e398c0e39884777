-- The audit log becomes a hash chain of every decision about an order, by whoever made it: the
-- resource server (tool calls), the authorization server (CIBA requests, decisions, tokens) and
-- the agent (orders frozen, approvals asked for and answered). Each record carries the hash of
-- the one before it (prev_hash) and its own (hash = SHA-256 of its canonical JSON, RFC 8785),
-- and a gap-free sequence number taken under a lock, so a changed, removed or reordered record
-- is found by `npm run audit -- verify`. Rows written before this migration have no seq and stay
-- outside the chain.
ALTER TABLE audit_log ALTER COLUMN tool DROP NOT NULL;
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_decision_check;
ALTER TABLE audit_log ADD COLUMN seq BIGINT UNIQUE;
ALTER TABLE audit_log ADD COLUMN source TEXT NOT NULL DEFAULT 'resource_server'
  CHECK (source IN ('resource_server', 'authorization_server', 'agent'));
ALTER TABLE audit_log ADD COLUMN event TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_chained CHECK (seq IS NULL OR (event IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL));
CREATE INDEX audit_log_order_id ON audit_log (order_id) WHERE order_id IS NOT NULL;
