/**
 * The protocol names every layer agrees on: the scopes of the MCP resource, the grant types and
 * token type URNs the client sends and the identity server accepts, and the Rich Authorization
 * Request type of an order. Spelled once here, as the specs spell them; the agent, the identity
 * server and the resource server import them (this module imports nothing).
 */

/** Read market prices, the portfolio and the trade history. */
export const SCOPE_READ = "stock:read";
/** Place a trade: granted only with the user's approval of one order, never to the agent alone. */
export const SCOPE_TRADE = "stock:trade";

/** What the agent asks for its own token. */
export const AGENT_SCOPE = `openid ${SCOPE_READ}`;
/** What a request on behalf of the user asks for (CIBA, token exchange). */
export const USER_SCOPE = `openid ${SCOPE_READ} ${SCOPE_TRADE}`;

/** OpenID CIBA Core §10.1: the token request that redeems an `auth_req_id`. */
export const CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba";
/** RFC 8693 §2.1: token exchange. */
export const TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 8693 §3: an OAuth access token, as `subject_token_type`, `actor_token_type` or `issued_token_type`. */
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** RFC 9396 §2: the `type` of an `authorization_details` entry that is an order (lib/orders/order.ts). */
export const STOCK_TRADE_TYPE = "stock_trade";

/**
 * The MCP resource holding a symbol's current price. Subscribers (`subscriptions/listen` with
 * `resourceSubscriptions`) get `notifications/resources/updated` for it on every market tick.
 */
export const priceResourceUri = (symbol: string): string => `market://${symbol}/price`;

/**
 * RFC 9396 §2: the `type` of a standing mandate: Alice lets the agent buy one symbol without asking
 * her each time, up to a per-trade and a per-day amount, until a date (lib/standing-mandate/mandate.ts).
 */
export const STOCK_TRADE_MANDATE_TYPE = "stock_trade_mandate";
