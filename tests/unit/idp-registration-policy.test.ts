import { describe, expect, it } from "vitest";
import {
  allowMetadataDocumentFetch,
  createClientMetadataValidator,
  redirectUriProblem,
  registeredClientProblem,
} from "@/lib/idp/registration-policy";

/** What a client that introduced itself may be (lib/idp/registration-policy.ts), negative cases first. */
const RESERVED = ["Sleeping Guardian", "Aurelius"];
const PUBLIC_CLIENT = {
  client_id: "abc",
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  redirect_uris: ["http://127.0.0.1:33418/callback"],
  client_name: "VS Code",
};

describe("redirect URIs", () => {
  it("refuses plain http off loopback, fragments, credentials and other schemes", () => {
    expect(redirectUriProblem("http://attacker.example/cb")).toMatch(/loopback/);
    expect(redirectUriProblem("http://127.0.0.1.attacker.example/cb")).toMatch(/loopback/);
    expect(redirectUriProblem("http://10.0.0.1/cb")).toMatch(/loopback/);
    expect(redirectUriProblem("https://host.example/cb#x")).toMatch(/fragment/);
    expect(redirectUriProblem("https://user:pw@host.example/cb")).toMatch(/credentials/);
    expect(redirectUriProblem("javascript:alert(1)")).toMatch(/scheme/);
    expect(redirectUriProblem("cursor://anysphere.cursor-retrieval/oauth/callback")).toMatch(/scheme/);
    expect(redirectUriProblem("not a url")).toBe("not a URL");
  });

  it("accepts https anywhere and http on a loopback address with any port (RFC 8252 §7.3)", () => {
    for (const uri of ["https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1:1/cb", "http://[::1]:65535/", "http://localhost:6274/oauth/callback"]) {
      expect(redirectUriProblem(uri), uri).toBeUndefined();
    }
  });
});

describe("registered client metadata", () => {
  it("refuses secrets, dangerous grants, other response types, order types, trade scope and posing names", () => {
    const problem = (patch: Record<string, unknown>) => registeredClientProblem({ ...PUBLIC_CLIENT, ...patch }, RESERVED);
    expect(problem({ token_endpoint_auth_method: "client_secret_basic" })).toMatch(/must be none/);
    expect(problem({ token_endpoint_auth_method: "private_key_jwt" })).toMatch(/must be none/);
    expect(problem({ grant_types: ["authorization_code", "urn:openid:params:grant-type:ciba"] })).toMatch(/ciba/);
    expect(problem({ grant_types: ["client_credentials"] })).toMatch(/client_credentials/);
    expect(problem({ grant_types: ["refresh_token"] })).toMatch(/must include authorization_code/);
    expect(problem({ response_types: ["code id_token"] })).toMatch(/response type/);
    expect(problem({ authorization_details_types: ["stock_trade_mandate"] })).toMatch(/authorization_details_types stock_trade_mandate/);
    expect(problem({ authorization_details_types: ["stock_trade", "payment_initiation"] })).toMatch(/authorization_details_types payment_initiation/);
    // The order type is allowed: which orders it may ask for is the transaction challenge's business.
    expect(problem({ authorization_details_types: ["stock_trade"] })).toBeUndefined();
    expect(problem({ scope: "stock:read stock:trade" })).toMatch(/stock:trade/);
    expect(problem({ redirect_uris: [] })).toMatch(/required/);
    expect(problem({ redirect_uris: Array.from({ length: 11 }, (_, i) => `http://127.0.0.1:${1000 + i}/`) })).toMatch(/at most 10/);
    expect(problem({ post_logout_redirect_uris: ["http://attacker.example/"] })).toMatch(/post_logout_redirect_uris/);
    expect(problem({ client_name: "sleeping-guardian Dashboard" })).toMatch(/own application/);
    expect(problem({ client_name: "ＡＵＲＥＬＩＵＳ" })).toMatch(/own application/);
    expect(problem({ client_name: "ok\u0000name" })).toMatch(/control/);
    expect(problem({ client_name: 42 })).toMatch(/string/);
  });

  it("accepts a public code-flow client with reading scopes", () => {
    expect(registeredClientProblem(PUBLIC_CLIENT, RESERVED)).toBeUndefined();
    expect(registeredClientProblem({ ...PUBLIC_CLIENT, scope: "openid profile email stock:read", client_name: undefined }, RESERVED)).toBeUndefined();
  });

  it("the oidc-provider validator refuses with invalid_client_metadata, and leaves configured clients alone", () => {
    const validate = createClientMetadataValidator({ trustedClientIds: new Set(["aurelius-agent"]), reservedNames: RESERVED });
    const agent = { client_id: "aurelius-agent", token_endpoint_auth_method: "client_secret_basic", grant_types: ["client_credentials"], client_name: "Aurelius" };
    expect(() => validate(undefined, "client_name", agent.client_name, agent)).not.toThrow();
    const posing = { ...agent, client_id: "https://evil.example/client.json" };
    expect(() => validate(undefined, "client_name", posing.client_name, posing)).toThrow(expect.objectContaining({ error: "invalid_client_metadata" }));
    // A metadata document is held to the same rules as a registered client.
    const document = { ...PUBLIC_CLIENT, client_id: "https://host.example/client.json" };
    expect(() => validate(undefined, "client_name", document.client_name, document)).not.toThrow();
    expect(() => validate(undefined, "scope", undefined, posing)).not.toThrow();
  });
});

describe("Client ID Metadata Document fetches", () => {
  it("refuse non-https, explicit ports, root paths and very long URLs before any fetch", () => {
    expect(allowMetadataDocumentFetch("http://host.example/client.json")).toBe(false);
    expect(allowMetadataDocumentFetch("https://127.0.0.1:8443/client.json")).toBe(false);
    expect(allowMetadataDocumentFetch("https://host.example:443x/client.json")).toBe(false);
    expect(allowMetadataDocumentFetch("https://host.example/")).toBe(false);
    expect(allowMetadataDocumentFetch(`https://host.example/${"a".repeat(600)}`)).toBe(false);
    expect(allowMetadataDocumentFetch("not a url")).toBe(false);
  });

  it("allow an https URL on the default port with a path", () => {
    expect(allowMetadataDocumentFetch("https://host.example/oauth/client.json")).toBe(true);
  });
});
