-- Foundation schema: market, ledger, activity and audit logs, agent orders and approvals.
-- Money is BIGINT cents; never a binary float.

CREATE TABLE market_state (
  symbol TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('STABLE', 'CRASHING', 'RECOVERING')),
  price_cents BIGINT NOT NULL CHECK (price_cents > 0),
  open_cents BIGINT NOT NULL CHECK (open_cents > 0),
  anchor_cents BIGINT NOT NULL CHECK (anchor_cents > 0),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE market_ticks (
  id BIGSERIAL PRIMARY KEY,
  symbol TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  price_cents BIGINT NOT NULL CHECK (price_cents > 0),
  status TEXT NOT NULL
);
CREATE INDEX market_ticks_symbol_id ON market_ticks (symbol, id DESC);

CREATE TABLE portfolios (
  user_sub TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  cash_cents BIGINT NOT NULL CHECK (cash_cents >= 0),
  initial_cash_cents BIGINT NOT NULL CHECK (initial_cash_cents >= 0),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE holdings (
  user_sub TEXT NOT NULL REFERENCES portfolios (user_sub) ON DELETE CASCADE,
  symbol TEXT NOT NULL,
  quantity BIGINT NOT NULL CHECK (quantity >= 0),
  cost_cents BIGINT NOT NULL CHECK (cost_cents >= 0),
  PRIMARY KEY (user_sub, symbol)
);

CREATE TABLE trades (
  id BIGSERIAL PRIMARY KEY,
  user_sub TEXT NOT NULL,
  actor_sub TEXT,
  actor_chain JSONB,
  client_id TEXT,
  order_id TEXT UNIQUE,
  token_jti TEXT UNIQUE,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  quantity BIGINT NOT NULL CHECK (quantity > 0),
  price_cents BIGINT NOT NULL CHECK (price_cents > 0),
  notional_cents BIGINT NOT NULL CHECK (notional_cents > 0),
  binding_rule TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX trades_user_created ON trades (user_sub, id DESC);

CREATE TABLE activity_log (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT now(),
  level TEXT NOT NULL CHECK (level IN ('debug', 'info', 'success', 'warn', 'error')),
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  data JSONB
);

CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT now(),
  tool TEXT NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('allowed', 'refused')),
  reason TEXT,
  sub TEXT,
  actor_chain JSONB,
  client_id TEXT,
  jti TEXT,
  scopes TEXT,
  order_id TEXT,
  args_digest TEXT,
  binding_rule TEXT
);

-- Orders the agent froze and the approvals it is waiting for (filled by the agent and MCP issues).
CREATE TABLE orders (
  order_id TEXT PRIMARY KEY,
  user_sub TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  quantity BIGINT NOT NULL CHECK (quantity > 0),
  limit_price_cents BIGINT NOT NULL CHECK (limit_price_cents > 0),
  max_notional_cents BIGINT NOT NULL CHECK (max_notional_cents > 0),
  expires_at TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE pending_approvals (
  auth_req_id TEXT PRIMARY KEY,
  order_id TEXT NOT NULL REFERENCES orders (order_id),
  binding_message TEXT NOT NULL,
  status TEXT NOT NULL,
  interval_seconds INTEGER NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  next_poll_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Small key/value settings (agent paused, mandate overrides, ...).
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
