import type { AppConfig } from "../config";

/**
 * Fix hints for what the identity server answered, in the words of its console. They mirror the
 * Troubleshooting section of the WSO2 Sleeping Guardian tutorial (agent token fails, scope check
 * failed, CIBA request fails, email not received) and Auth0's dashboard (APIs, applications,
 * grant types, authorization details types). docs/wso2.md and docs/auth0.md walk through them.
 */
type Provider = AppConfig["auth"]["provider"];

const has = (text: string | undefined, pattern: RegExp) => pattern.test(text ?? "");

/** Why the agent could not get its own token. */
export function agentTokenHints(provider: Provider, error: string, description?: string): string[] {
  if (error === "issuer_mismatch") {
    return provider === "wso2"
      ? ["Leave AUTH_ISSUER unset: the agent and the MCP server then trust the issuer WSO2's discovery document names (its configured public URL).", "Or set AUTH_ISSUER to the issuer the server signs with (above)."]
      : ["Leave AUTH_ISSUER unset, or set it to the issuer the server signs with (above)."];
  }
  if (provider === "wso2") {
    if (error === "invalid_configuration") return ["Check WSO2_BASE_URL, including an organisation path (/t/{tenant} or /o/{org}), or set AUTH_ISSUER to the server's issuer."];
    if (error === "ABA-60007") return ["Enable App-Native Authentication: Applications → Aurelius Trading Agent → Advanced → App-Native Authentication → Update."];
    // App-native authentication refuses the client at /oauth2/authorize with HTTP 401
    // {code: "401", message: "Unauthorized"}; the token and CIBA endpoints say invalid_client.
    if (error === "401" || error === "ABA-60005" || error === "invalid_client") {
      return ["AGENT_CLIENT_ID / AGENT_CLIENT_SECRET must be the Client ID and Client Secret of the application (General → Protocol tab).", "The application must be confidential: untick Public Client."];
    }
    if (error === "authentication_failed") return ["AGENT_ID / WSO2_AGENT_SECRET must be the Agent ID and Agent Secret shown when the agent (Agents → Aurelius Bot) was created; create a new secret if it was lost."];
    if (error === "authenticator_unavailable" || error === "unexpected_step") return ["The application's login flow must be a single 'Username & Password' step (Login Flow tab): an agent cannot answer other steps."];
    // A redirect_uri the application does not list: ABA-60001 "invalid_callback - callback.not.match".
    if (error === "ABA-60001" && has(description, /invalid_callback|callback\.not\.match/)) return ["WSO2_REDIRECT_URI must be one of the application's Authorized redirect URLs (Protocol tab)."];
    if (error === "unauthorized_client" || error === "unsupported_grant_type") return ["Enable the Code grant type on the application (Protocol → Allowed grant types)."];
  }
  if (provider === "auth0") {
    if (error === "access_denied" && has(description, /^unauthorized$/i)) {
      return ["AGENT_CLIENT_ID / AGENT_CLIENT_SECRET must be the application's Client ID and Client Secret.", "AUTH0_CLIENT_AUTH must match the application's Credentials → Authentication Method (client_secret_post or client_secret_basic)."];
    }
    if (has(description, /service not found/i)) return ["MCP_AUDIENCE must be the Identifier of the API (Applications → APIs → Stock Trading MCP → Settings)."];
    if (has(description, /not authorized to access|client-grant/i)) return ["Authorize the application for the API: Applications → APIs → Stock Trading MCP → Machine To Machine Applications → enable it with stock:read."];
    if (has(description, /not been granted scopes/i)) return ["Grant stock:read to the application on the API (Machine To Machine Applications → expand the application → tick stock:read)."];
    if (error === "unauthorized_client") return ["Enable the Client Credentials grant: Applications → the agent's application → Advanced Settings → Grant Types."];
  }
  if (provider === "embedded" && error === "invalid_client") return ["AGENT_CLIENT_SECRET must be the secret the embedded server generated (see its first start-up log) or unset on both sides."];
  return [`The server answered ${error}${description ? ` (${description})` : ""}.`];
}

/** The CIBA endpoint refused the doctor's probe or the test approval request. */
export function cibaHints(provider: Provider, error: string, description?: string): string[] {
  if (error === "invalid_client" || (error === "access_denied" && has(description, /^unauthorized$/i))) {
    return agentTokenHints(provider, provider === "auth0" ? "access_denied" : "invalid_client", description);
  }
  if (error === "unauthorized_client") {
    return provider === "wso2"
      ? ["Enable CIBA: Applications → Aurelius Trading Agent → Protocol → Allowed grant types → CIBA, set the expiry (120 s) and the notification delivery method (Email), then Update."]
      : provider === "auth0"
        ? ["Enable the Client Initiated Backchannel Authentication (CIBA) grant: the application → Advanced Settings → Grant Types (the tenant needs CIBA, which Auth0 offers on its Enterprise plans)."]
        : ["The embedded server's agent client is missing the CIBA grant; reset the data directory (DATA_DIR)."];
  }
  if (error === "unknown_user_id" || (provider === "wso2" && isUnknownWso2User(description)) || has(description, /user not found|unknown user|does not exist/i)) {
    return provider === "auth0"
      ? ["INVESTOR_USER_ID must be Alice's user_id (User Management → Users → Alice, e.g. auth0|65f…).", "Alice must be enrolled for Guardian push or email notifications (Security → Multi-factor Auth)."]
      : ["INVESTOR_EMAIL must be the username of a valid user (User Management → Users); in the tutorial the username is her email address.", "Her email address must be verified, or WSO2 cannot send the approval mail."];
  }
  if (provider === "auth0" && error === "invalid_request") {
    // auth0-ai-js reads an invalid_request from /bc-authorize as "the user cannot get push
    // notifications" (AsyncAuthorizerBase.ts); the request itself is well-formed here.
    return [
      "Enable the application's CIBA notification channels (the application → Client Initiated Backchannel Authentication (CIBA) → Guardian push, or async_approval_notification_channels).",
      "Alice must be enrolled in Guardian push; with AGENT_APPROVAL_EXPIRY_SECONDS above 300 Auth0 uses email only: the Email channel and a verified address for Alice.",
    ];
  }
  if (provider === "auth0" && error === "invalid_authorization_details") {
    const grant = "If the API's User-Delegated Access policy is Per-app authorization, allow the type on the application's user-delegated client grant (APIs → Stock Trading MCP → Application Access, or authorization_details_types of the client grant).";
    const register = "Register the authorization details type urn:auth0:schemas:authorization-details:v1:<AUTH0_RAR_TYPE> on the API (APIs → Stock Trading MCP → Permissions → Add an Authorization Details type).";
    return has(description, /grant/i) ? [grant, register] : [register, grant];
  }
  if (provider === "wso2" && has(description, /^Invalid actor_token: Error while parsing/)) return TOKEN_TYPE_HINTS.wso2;
  if (provider === "wso2" && has(description, /^Invalid actor_token: Invalid issuer/)) return agentTokenHints("wso2", "issuer_mismatch");
  if (has(description, /notification channel/i)) return ["Select Email under CIBA → Allowed Notification Delivery Methods, or set WSO2_NOTIFICATION_CHANNEL to a method the application allows."];
  if (error === "invalid_authorization_details") {
    return [`Register the authorization details type urn:auth0:schemas:authorization-details:v1:<AUTH0_RAR_TYPE> on the API (APIs → Stock Trading MCP → Permissions → Authorization Details).`];
  }
  if (error === "invalid_scope") return ["Define stock:read and stock:trade on the API / MCP resource, and allow the user to be granted them (roles or user access policy)."];
  return [`The server answered ${error}${description ? ` (${description})` : ""}.`];
}

/**
 * WSO2's answer for a login_hint that names nobody: invalid_request "Invalid ciba request."
 * (identity-inbound-auth-oauth DefaultCibaUserResolver#resolveUser).
 */
export const isUnknownWso2User = (description: string | undefined) => has(description, /^Invalid ciba request\.?$/);

/** The agent token is opaque: the MCP server verifies JWTs, and WSO2 takes only a JWT it signed as actor_token. */
export const TOKEN_TYPE_HINTS: Record<Provider, string[]> = {
  wso2: [
    "Set the application's access token type to JWT: Applications → Aurelius Trading Agent → Protocol → Access Token → Token type → JWT, then Update.",
    "The MCP server verifies JWTs, and WSO2's CIBA endpoint accepts only a JWT it signed as actor_token.",
  ],
  auth0: ["Request the token for the API (MCP_AUDIENCE): Auth0 issues JWT access tokens only for an API audience."],
  embedded: ["The embedded server issues JWT access tokens; reset DATA_DIR if it was changed."],
};

/** An approval request was sent: what to check when nothing arrives. */
export function notificationHints(provider: Provider): string[] {
  return provider === "auth0"
    ? ["Deny the request on Alice's device: it is a test.", "Nothing on the phone? Alice must be enrolled in Guardian (push); with requested_expiry above 300 s Auth0 sends an email instead."]
    : ["Deny the request in Alice's mail: it is a test.", "Email not received? Check the spam folder, that her email is verified (User Management → Users → Alice) and the server's email provider (Notification Channels → Email Provider)."];
}

export const SCOPE_HINTS: Record<Exclude<Provider, "embedded"> | "embedded", string[]> = {
  wso2: [
    "The role stock_mcp must include stock:read and stock:trade of the Stock Trading MCP resource.",
    "Assign the role to Aurelius Bot (Agents section of the role) and to Alice (Users section).",
    "Authorize the MCP resource for the application: Aurelius Trading Agent → Authorization → Authorize Resource → both scopes.",
  ],
  auth0: ["Grant stock:read to the application on the API (Applications → APIs → Machine To Machine Applications)."],
  embedded: ["The embedded server grants stock:read to its agent client; reset DATA_DIR if it was changed."],
};

export const BROAD_SCOPE_HINTS: Record<Provider, string[]> = {
  wso2: ["The agent asks for openid stock:read only; the server added more. Check the application's scope settings (no default stock:trade)."],
  auth0: [
    "Remove stock:trade from the application's machine-to-machine grant on the API, and from any Action that adds scopes to its token: the agent must get it from Alice through CIBA, never on its own.",
  ],
  embedded: ["The embedded agent client must only be allowed stock:read on its own; reset DATA_DIR."],
};
