import http from "node:http";
import { ProtocolError } from "@/lib/errors";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedProfile } from "@/lib/auth/profiles/embedded";


/**
 * A wrong client secret is the client's fault, not an outage: oidc-provider answers it with 401,
 * a `WWW-Authenticate` header and `invalid_client`, which openid-client throws as a challenge
 * error. The agent must report invalid_client (and stop), not "unreachable" (and retry forever).
 */
describe("token endpoint errors", () => {
  let server: http.Server;
  let issuer: string;
  let tokenStatus = 401;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/.well-known/openid-configuration") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ issuer, token_endpoint: `${issuer}/token`, backchannel_authentication_endpoint: `${issuer}/ciba` }));
        return;
      }
      if (tokenStatus === 401) {
        res.writeHead(401, { "Content-Type": "application/json", "WWW-Authenticate": 'Basic realm="oidc"' });
        res.end(JSON.stringify({ error: "invalid_client", error_description: "client authentication failed" }));
      } else {
        res.writeHead(503, { "Content-Type": "text/plain" });
        res.end("down");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const profile = () =>
    createEmbeddedProfile({ issuer, clientId: "aurelius-agent", clientSecret: "wrong", resource: "http://localhost/mcp", loginHint: "alice@example.com", fetch, allowHttp: true });

  it("reports a 401 challenge with invalid_client as the OAuth error it is", async () => {
    tokenStatus = 401;
    const error = await profile().getAgentToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: "invalid_client", retryable: false });
  });

  it("still reports a 5xx as unreachable", async () => {
    tokenStatus = 503;
    const error = await profile().getAgentToken().catch((e: unknown) => e);
    expect(error).toMatchObject({ retryable: true });
  });
});
