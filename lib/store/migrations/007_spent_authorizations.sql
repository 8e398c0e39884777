-- Every order id and token jti that has traded, once and for good. The trades table enforces
-- single use too, but a demo reset empties it; this table outlives the reset, so a token (or an
-- order in a token's authorization_details) that traded before a reset cannot trade again.
CREATE TABLE spent_authorizations (
  id BIGSERIAL PRIMARY KEY,
  order_id TEXT UNIQUE,
  token_jti TEXT UNIQUE,
  spent_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (order_id IS NOT NULL OR token_jti IS NOT NULL)
);
INSERT INTO spent_authorizations (order_id, token_jti, spent_at)
  SELECT order_id, token_jti, created_at FROM trades WHERE order_id IS NOT NULL OR token_jti IS NOT NULL;
