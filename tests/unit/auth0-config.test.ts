import { describe, expect, it } from "vitest";
import { parseConfig } from "@/lib/config";
import { configProblems } from "../helpers/failures";

/** AUTH_PROVIDER=auth0: everything derives from AUTH0_DOMAIN; the agent's identity is its client. */
const AUTH0 = { AUTH_PROVIDER: "auth0", AUTH0_DOMAIN: "tenant.eu.auth0.com", AGENT_CLIENT_ID: "Abc123", AGENT_CLIENT_SECRET: "s" };

describe("Auth0 configuration", () => {
  it("derives the issuer with its trailing slash, the JWKS, the audience and the rar binding", () => {
    const c = parseConfig(AUTH0);
    expect(c.auth).toMatchObject({ provider: "auth0", issuer: "https://tenant.eu.auth0.com/", jwksUri: "https://tenant.eu.auth0.com/.well-known/jwks.json", audience: "http://localhost:3000/mcp", binding: "rar" });
    expect(c.auth0).toEqual({ origin: "https://tenant.eu.auth0.com", rarType: "stock_trade", clientAuth: "client_secret_post" });
    expect(c.agent.id).toBe("Abc123");
  });

  it("keeps an explicit AUTH_ISSUER byte for byte and takes the API identifier from MCP_AUDIENCE", () => {
    const c = parseConfig({ ...AUTH0, AUTH_ISSUER: "https://login.example.com/", MCP_AUDIENCE: "https://api.example.com/stock" });
    expect(c.auth.issuer).toBe("https://login.example.com/");
    expect(c.auth.audience).toBe("https://api.example.com/stock");
  });

  it("accepts https://domain and a loopback http origin (tests)", () => {
    expect(parseConfig({ ...AUTH0, AUTH0_DOMAIN: "https://tenant.eu.auth0.com/" }).auth0?.origin).toBe("https://tenant.eu.auth0.com");
    expect(parseConfig({ ...AUTH0, AUTH0_DOMAIN: "http://127.0.0.1:4567" }).auth.issuer).toBe("http://127.0.0.1:4567/");
  });

  it.each([
    [{ AUTH0_DOMAIN: "" }, /AUTH0_DOMAIN: required/],
    [{ AUTH0_DOMAIN: "http://tenant.eu.auth0.com" }, /AUTH0_DOMAIN: must be a host name/],
    [{ AUTH0_DOMAIN: "tenant.eu.auth0.com/path" }, /AUTH0_DOMAIN: must be a host name/],
    [{ AGENT_CLIENT_SECRET: "" }, /AGENT_CLIENT_SECRET: required/],
    [{ AGENT_ID: "aurelius" }, /AGENT_ID: with AUTH_PROVIDER=auth0/],
    [{ AUTH0_RAR_TYPE: "urn:bad type" }, /AUTH0_RAR_TYPE/],
    [{ AUTH0_CLIENT_AUTH: "private_key_jwt" }, /AUTH0_CLIENT_AUTH/],
  ])("refuses %j", (patch, message) => {
    expect(configProblems({ ...AUTH0, ...patch })).toMatch(message);
  });

  it("accepts AGENT_ID when it is the client id", () => {
    expect(parseConfig({ ...AUTH0, AGENT_ID: "Abc123" }).agent.id).toBe("Abc123");
  });
});
