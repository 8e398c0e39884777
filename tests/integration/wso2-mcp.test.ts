import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig, type AppConfig } from "@/lib/config";
import { createMcpEndpoint, type McpEndpoint } from "@/mcp/endpoint";
import { protectedResourceMetadataResponse } from "@/mcp/metadata";
import { startWso2Fake, wso2ProfileFor, type Wso2Fake } from "../fakes/wso2-fake";
import { MCP_ACCEPT } from "../helpers/app-server";
import { connectInProcess, inProcessFetch, startMcpDeps, type McpDeps } from "../helpers/mcp-in-process";
import { wso2EnvFor } from "../helpers/wso2-env";

/**
 * /mcp in the WSO2 profile (AUTH_PROVIDER=wso2), in process, trusting the WSO2 fake the way the
 * app trusts a real server: the issuer its discovery document names (or AUTH_ISSUER), its keys,
 * the client id as audience. WSO2 with enableJwtScopeAsArray sends `scope` as a JSON array; the
 * resource server takes it as it takes the string, and refuses any other shape with 401
 * invalid_token.
 */
const PUBLIC_URL = "http://localhost:3999";
const MCP_URL = `${PUBLIC_URL}/mcp`;
const DISCOVERY = "/oauth2/token/.well-known/openid-configuration";

interface World {
  fake: Wso2Fake;
  config: AppConfig;
  broker: McpDeps;
  endpoint: McpEndpoint;
}

async function startWorld(fakeOptions: Parameters<typeof startWso2Fake>[0], env: Record<string, string> = {}): Promise<World> {
  const fake = await startWso2Fake(fakeOptions);
  const config = parseConfig({ NODE_ENV: "test", PUBLIC_URL, DATA_DIR: "memory://", ...wso2EnvFor(fake), INVESTOR_USER_ID: fake.options.users["alice@example.com"]!, ...env });
  const broker = await startMcpDeps(config);
  return { fake, config, broker, endpoint: createMcpEndpoint(broker) };
}

async function stopWorld(world: World | undefined): Promise<void> {
  await world?.endpoint.close();
  await world?.broker.stop();
  await world?.fake.close();
}

/** An initialize request with `token`, as any MCP client sends it first. */
function initialize(world: World, token: string): Promise<Response> {
  return inProcessFetch(world.endpoint)(MCP_URL, {
    method: "POST",
    headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "wso2-mcp-test", version: "1" } } }),
  });
}

describe("WSO2 with enableJwtScopeAsArray, reached at the tutorial's /t/carbon.super base", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ orgPath: "/t/carbon.super", scopeAsArray: true });
  });
  afterAll(() => stopWorld(world));

  it("accepts the agent's own token with scope [\"openid\", \"stock:read\"]: get_market_price answers", async () => {
    const agent = await wso2ProfileFor(world.fake).getAgentToken();
    const claims = JSON.parse(Buffer.from(agent.accessToken.split(".")[1]!, "base64url").toString()) as { scope: unknown; iss: string };
    expect(claims.scope).toEqual(["openid", "stock:read"]);
    expect(claims.iss).toBe(world.fake.issuer);
    expect(world.fake.issuer).not.toBe(world.config.auth.issuer);

    const client = await connectInProcess(world.endpoint, MCP_URL, agent.accessToken);
    try {
      const result = (await client.callTool({ name: "get_market_price", arguments: { symbol: "NVDA" } })) as { isError?: boolean; content: { text: string }[] };
      expect(result.isError).toBeFalsy();
      expect(result.content[0]!.text).toMatch(/NVDA/);
    } finally {
      await client.close();
    }
  });

  it.each([
    ["a number", 5],
    ["an array with a non-string entry", ["stock:read", 7]],
    ["an object", { "stock:read": true }],
  ])("refuses a token whose scope is %s with 401 invalid_token", async (_name, scope) => {
    const token = await world.fake.mint({ sub: world.fake.options.agentId, aut: "AGENT", scope });
    const response = await initialize(world, token);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token", error_description="The token's claims are malformed\."/);
  });

  it("refuses a token the server's key signed for the base URL's issuer: only the issuer WSO2 names is trusted", async () => {
    const token = await world.fake.mint({ sub: world.fake.options.agentId, aut: "AGENT", scope: ["openid", "stock:read"], iss: `${world.fake.base}/oauth2/token` });
    const response = await initialize(world, token);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/error_description="The token's iss claim is not accepted\."/);
  });

  it("names the issuer WSO2 names as its authorization server (RFC 9728)", async () => {
    const metadata = (await (await protectedResourceMetadataResponse(world.config)).json()) as { authorization_servers: string[] };
    expect(metadata.authorization_servers).toEqual([world.fake.issuer]);
  });
});

describe("AUTH_ISSUER overrides the discovery document for the MCP server too", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({}, { AUTH_ISSUER: "https://localhost:9443/oauth2/token" });
  });
  afterAll(() => stopWorld(world));

  it("a token of the server's own issuer is refused, and the discovery document is never read", async () => {
    const token = await world.fake.mint({ sub: world.fake.options.agentId, aut: "AGENT", scope: "openid stock:read" });
    const response = await initialize(world, token);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/error_description="The token's iss claim is not accepted\."/);
    const pinned = await world.fake.mint({ sub: world.fake.options.agentId, aut: "AGENT", scope: "openid stock:read", iss: "https://localhost:9443/oauth2/token" });
    expect((await initialize(world, pinned)).status).toBe(200);
    expect(world.fake.requestsTo(DISCOVERY)).toEqual([]);
  });
});

describe("while the discovery document cannot be read", () => {
  it("answers 503 (the token may be fine), not 401", async () => {
    const world = await startWorld({ orgPath: "/t/acme" });
    try {
      // Another tenant's path: no discovery document there.
      const config = parseConfig({ NODE_ENV: "test", PUBLIC_URL, DATA_DIR: "memory://", ...wso2EnvFor(world.fake), WSO2_BASE_URL: world.fake.base.replace("/t/acme", "/t/other") });
      const endpoint = createMcpEndpoint({ ...world.broker, config });
      const token = await world.fake.mint({ sub: world.fake.options.agentId, aut: "AGENT", scope: "openid stock:read" });
      const response = await inProcessFetch(endpoint)(MCP_URL, { method: "POST", headers: { "content-type": "application/json", accept: MCP_ACCEPT, authorization: `Bearer ${token}` }, body: "{}" });
      expect(response.status).toBe(503);
      await endpoint.close();
    } finally {
      await stopWorld(world);
    }
  });
});
