import { describe, expect, it } from "vitest";
import { ENV_VARIABLES, parseConfig } from "@/lib/config";
import { configProblems } from "../helpers/failures";

/** AUTH_PROVIDER=wso2: everything derives from WSO2_BASE_URL; secrets are required only for the agent. */
const WSO2 = { AUTH_PROVIDER: "wso2", WSO2_BASE_URL: "https://localhost:9443", AGENT_CLIENT_ID: "cid", AGENT_CLIENT_SECRET: "csecret", AGENT_ID: "agent-uuid", WSO2_AGENT_SECRET: "asecret" };

describe("WSO2 configuration", () => {
  it("derives JWKS, audience (the client id), the recorded-approval binding, and reads the issuer from discovery", () => {
    const c = parseConfig(WSO2);
    expect(c.auth).toMatchObject({
      provider: "wso2",
      issuer: "https://localhost:9443/oauth2/token",
      issuerDiscovery: "https://localhost:9443/oauth2/token/.well-known/openid-configuration",
      jwksUri: "https://localhost:9443/oauth2/jwks",
      audience: "cid",
      binding: "recorded-approval",
    });
    expect(c.auth.caFile).toBeUndefined();
    expect(c.agent.id).toBe("agent-uuid");
    expect(c.wso2).toEqual({ baseUrl: "https://localhost:9443", agentSecret: "asecret", redirectUri: "http://localhost:3000/callback", notificationChannel: "email" });
  });

  it("keeps an organisation path and accepts the issuer in place of the base URL", () => {
    expect(parseConfig({ ...WSO2, WSO2_BASE_URL: "https://api.asgardeo.io/t/acme/" }).auth.issuerDiscovery).toBe("https://api.asgardeo.io/t/acme/oauth2/token/.well-known/openid-configuration");
    const fromIssuer = parseConfig({ ...WSO2, WSO2_BASE_URL: "", AUTH_ISSUER: "https://localhost:9443/o/org1/oauth2/token" });
    expect(fromIssuer.wso2?.baseUrl).toBe("https://localhost:9443/o/org1");
    expect(fromIssuer.auth.jwksUri).toBe("https://localhost:9443/o/org1/oauth2/jwks");
    expect(fromIssuer.auth).toMatchObject({ issuer: "https://localhost:9443/o/org1/oauth2/token", issuerDiscovery: undefined });
  });

  it("lets AUTH_ISSUER (no discovery then), AUTH_JWKS_URI, MCP_AUDIENCE override", () => {
    const c = parseConfig({ ...WSO2, AUTH_ISSUER: "https://idp.example.com/oauth2/token", AUTH_JWKS_URI: "https://idp.example.com/keys", MCP_AUDIENCE: "aud", WSO2_CA_FILE: "./ca.pem", WSO2_NOTIFICATION_CHANNEL: "sms" });
    expect(c.auth).toMatchObject({ issuer: "https://idp.example.com/oauth2/token", issuerDiscovery: undefined, jwksUri: "https://idp.example.com/keys", audience: "aud", caFile: "./ca.pem" });
    expect(c.wso2?.notificationChannel).toBe("sms");
  });

  it("always binds through the recorded approval: WSO2_AUTHORIZATION_DETAILS no longer switches to rar", () => {
    // WSO2's CIBA endpoint reads no authorization_details, so a "rar" rule would refuse every approved token.
    expect(parseConfig({ ...WSO2, WSO2_AUTHORIZATION_DETAILS: "true" }).auth.binding).toBe("recorded-approval");
    expect(ENV_VARIABLES).not.toContain("WSO2_AUTHORIZATION_DETAILS");
  });

  it.each([
    [{ WSO2_BASE_URL: "" }, /WSO2_BASE_URL: required/],
    [{ WSO2_BASE_URL: "http://idp.example.com" }, /WSO2_BASE_URL: must be https/],
    [{ AGENT_CLIENT_SECRET: "" }, /AGENT_CLIENT_SECRET: required/],
    [{ WSO2_AGENT_SECRET: "" }, /WSO2_AGENT_SECRET: required/],
    [{ WSO2_NOTIFICATION_CHANNEL: "pigeon" }, /WSO2_NOTIFICATION_CHANNEL/],
  ])("refuses %j", (patch, message) => {
    expect(configProblems({ ...WSO2, ...patch })).toMatch(message);
  });

  it("allows plain http on loopback only, and needs no secrets when the agent is off", () => {
    expect(parseConfig({ ...WSO2, WSO2_BASE_URL: "http://127.0.0.1:9763" }).auth.issuer).toBe("http://127.0.0.1:9763/oauth2/token");
    expect(parseConfig({ AUTH_PROVIDER: "wso2", WSO2_BASE_URL: "https://localhost:9443", AGENT_ENABLED: "false" }).auth.provider).toBe("wso2");
  });
});
