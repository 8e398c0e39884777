import "server-only";
import type { ClientMetadata } from "oidc-provider";
import type { AppConfig } from "../config";
import { announceDevDefault, assertDevDefaultAllowed } from "../dev-defaults";
import { CIBA_GRANT_TYPE, STOCK_TRADE_MANDATE_TYPE, STOCK_TRADE_TYPE, TOKEN_EXCHANGE_GRANT_TYPE, USER_SCOPE } from "../protocol";

/**
 * The clients the embedded server knows, seeded from configuration: the agent "Aurelius". It
 * gets its own token with client credentials, asks the user with CIBA (poll mode) and narrows
 * tokens with token exchange — one confidential client, one secret, HTTP Basic or POST body.
 */
export function agentClient(config: AppConfig, secret: string): ClientMetadata {
  return {
    client_id: config.auth.agentClientId,
    client_secret: secret,
    client_name: config.agent.name,
    grant_types: ["client_credentials", CIBA_GRANT_TYPE, TOKEN_EXCHANGE_GRANT_TYPE, "refresh_token"],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: "client_secret_basic",
    backchannel_token_delivery_mode: "poll",
    scope: `${USER_SCOPE} offline_access`,
    authorization_details_types: [STOCK_TRADE_TYPE, STOCK_TRADE_MANDATE_TYPE],
  };
}

/**
 * The dashboard, where Alice signs in: a confidential web client using the authorization code
 * flow with PKCE (the server requires PKCE of every client), returning only to the app's own
 * callback. It asks for OpenID scopes alone; its grant names no resource, so its tokens cannot
 * call /mcp.
 */
export function dashboardClient(config: AppConfig, secret: string): ClientMetadata {
  return {
    client_id: config.signIn.clientId,
    client_secret: secret,
    client_name: "Sleeping Guardian dashboard",
    grant_types: ["authorization_code"],
    response_types: ["code"],
    redirect_uris: [config.signIn.redirectUri],
    post_logout_redirect_uris: [`${config.publicUrl}/`],
    token_endpoint_auth_method: "client_secret_basic",
    scope: "openid profile email",
  };
}

/**
 * A second client for tests only: IDP_TEST_CLIENT="client_id:secret" seeds one with the same
 * capabilities, so tests can show that one client cannot redeem another's auth_req_id. Nothing
 * but tests may use it: it announces itself and is fenced like every development default.
 */
export function testClientFromConfig(config: AppConfig, raw = config.idp.testClient): ClientMetadata | undefined {
  if (!raw) return undefined;
  const separator = raw.indexOf(":");
  const clientId = raw.slice(0, separator);
  const secret = raw.slice(separator + 1);
  if (separator < 1 || secret.length < 16 || clientId === config.auth.agentClientId) {
    throw new Error('IDP_TEST_CLIENT must be "client_id:secret" with a secret of 16+ characters and an id other than the agent\'s');
  }
  assertDevDefaultAllowed(config, "IDP_TEST_CLIENT (a second client for tests)");
  announceDevDefault("idp-test-client", `Test client "${clientId}" is registered at the embedded identity server (IDP_TEST_CLIENT).`);
  return { ...agentClient(config, secret), client_id: clientId, client_name: `Test client ${clientId}` };
}
