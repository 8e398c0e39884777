-- Standing mandates (RFC 9396 type stock_trade_mandate): the app's record of a grant Alice makes
-- at the authorization server, read by the resource server on every trade under a mandate, in the
-- trade's transaction with the row locked. A token that carries a mandate is honoured only while
-- its row is 'granted', unexpired and names the same terms.
--
-- status 'requested': Alice started the grant, the authorization server has not issued it yet;
-- 'granted': the agent received a token carrying exactly these terms; 'revoked': Alice revoked it
-- (for good: a new mandate is a new grant with a new id).
CREATE TABLE mandates (
  mandate_id TEXT PRIMARY KEY,
  user_sub TEXT NOT NULL,
  agent_sub TEXT NOT NULL,
  symbol TEXT NOT NULL,
  max_per_trade_cents BIGINT NOT NULL CHECK (max_per_trade_cents > 0),
  max_per_day_cents BIGINT NOT NULL CHECK (max_per_day_cents >= max_per_trade_cents),
  expires_at TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('requested', 'granted', 'revoked')),
  auth_req_id TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  granted_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ
);

CREATE INDEX mandates_user ON mandates (user_sub, status);

-- What each mandate has spent per UTC day, added inside the trade's transaction. A demo reset
-- empties the trades but not this table: a reset does not give a mandate its day's money back.
CREATE TABLE mandate_spend (
  mandate_id TEXT NOT NULL REFERENCES mandates (mandate_id),
  day DATE NOT NULL,
  spent_cents BIGINT NOT NULL CHECK (spent_cents >= 0),
  trades INTEGER NOT NULL,
  PRIMARY KEY (mandate_id, day)
);
