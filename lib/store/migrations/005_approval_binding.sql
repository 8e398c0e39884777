-- The recorded-approval rule (identity servers that cannot put the order into the token): the
-- on-behalf-of token obtained by redeeming a CIBA request is bound to that request's approval by
-- its `jti`, recorded here when the client receives it. The broker executes an order only with
-- the one token recorded for its approved request.
ALTER TABLE pending_approvals ADD COLUMN token_jti TEXT;
CREATE UNIQUE INDEX pending_approvals_token_jti ON pending_approvals (token_jti);
