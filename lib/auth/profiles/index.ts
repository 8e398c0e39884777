import "server-only";
import type { AppConfig } from "../../config";
import type { FetchLike } from "../app-fetch";
import { createAuth0ProfileFromConfig } from "./auth0";
import { createEmbeddedProfile } from "./embedded";
import type { IdentityServerProfile } from "./types";
import { createWso2ProfileFromConfig } from "./wso2";

export type { IdentityServerProfile } from "./types";

/**
 * The profile of the configured identity server: the embedded server, WSO2 Identity
 * Server / Asgardeo (app-native authentication for the agent token, wso2.ts) or Auth0 (client
 * credentials, its login_hint format and RAR schema, `azp` as the actor, auth0.ts). The agent loop
 * does not change for them.
 */
export function createIdentityServerProfile(config: AppConfig, options: { clientSecret: string; fetch: FetchLike }): IdentityServerProfile {
  switch (config.auth.provider) {
    case "embedded":
      return createEmbeddedProfile({
        issuer: config.auth.issuer,
        clientId: config.auth.agentClientId,
        clientSecret: options.clientSecret,
        resource: config.mcp.resourceUrl,
        loginHint: config.investor.email,
        fetch: options.fetch,
        allowHttp: true,
      });
    case "wso2":
      return createWso2ProfileFromConfig(config, options);
    case "auth0":
      return createAuth0ProfileFromConfig(config, options);
  }
}
