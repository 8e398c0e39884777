-- Orders the resource server froze when it challenged a trade (mcp/transaction-challenge.ts): the
-- exact `stock_trade` authorization_details it named in its 403, bound to the investor the trade
-- is for (user_sub) and to the party that asked (requester: the agent's sub for the agent's own
-- token, the client id for a user token). A trade that names one of these order ids executes only
-- for that investor, through that requester, with a token whose order is this one field for field.
CREATE TABLE transaction_challenges (
  order_id TEXT PRIMARY KEY,
  user_sub TEXT NOT NULL,
  requester TEXT NOT NULL,
  client_id TEXT,
  detail JSONB NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX transaction_challenges_requester ON transaction_challenges (requester, created_at DESC);
