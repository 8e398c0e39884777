import type { Wso2Fake } from "../fakes/wso2-fake";

/** The environment that points the app (or `npm run doctor`) at a WSO2 fake: its base URL, the client's and the agent's credentials, the redirect URI. */
export function wso2EnvFor(fake: Wso2Fake): Record<string, string> {
  return {
    AUTH_PROVIDER: "wso2",
    WSO2_BASE_URL: fake.base,
    AGENT_CLIENT_ID: fake.options.clientId,
    AGENT_CLIENT_SECRET: fake.options.clientSecret,
    AGENT_ID: fake.options.agentId,
    WSO2_AGENT_SECRET: fake.options.agentSecret,
    WSO2_REDIRECT_URI: fake.options.redirectUri,
    DASHBOARD_CLIENT_ID: fake.dashboard.clientId,
    DASHBOARD_CLIENT_SECRET: fake.dashboard.clientSecret,
  };
}
