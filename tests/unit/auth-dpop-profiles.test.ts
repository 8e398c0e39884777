import { decodeJwt, decodeProtectedHeader, UnsecuredJWT } from "jose";
import { ProtocolError } from "@/lib/errors";
import type * as client from "openid-client";
import { afterEach, describe, expect, it } from "vitest";
import { generateDPoPKey } from "@/lib/auth/dpop";
import { toTokenResult } from "@/lib/auth/profiles/common";
import type { TokenResult } from "@/lib/auth/profiles/types";
import { remoteKeys } from "@/lib/protected-resource/issuer-keys";
import { verifyAccessToken } from "@/lib/protected-resource/verify-access-token";
import { auth0ProfileFor, startAuth0Fake, type Auth0Fake, type Auth0FakeOptions } from "../fakes/auth0-fake";
import type { RecordedRequest } from "../fakes/fake-http";
import { startWso2Fake, wso2ProfileFor, type Wso2Fake, type Wso2FakeOptions } from "../fakes/wso2-fake";
import { sampleCibaRequest } from "../helpers/orders";

/**
 * DPoP at WSO2 and Auth0 as their fakes replay it (tests/fakes): the profiles send a proof where
 * the server can bind the token, and keep what the server answered: a DPoP token bound to the
 * agent's key, or a bearer token when the server's configuration does not bind.
 */
let wso2: Wso2Fake | undefined;
let auth0: Auth0Fake | undefined;
afterEach(async () => {
  await wso2?.close();
  await auth0?.close();
  wso2 = auth0 = undefined;
});

const ALICE = "alice@example.com";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function wso2Profile(options: Wso2FakeOptions) {
  wso2 = await startWso2Fake(options);
  const fake = wso2;
  const profile = wso2ProfileFor(fake)
  return { fake, profile };
}

async function auth0Profile(options: Auth0FakeOptions) {
  auth0 = await startAuth0Fake({ interval: 1, ...options });
  const fake = auth0;
  const profile = auth0ProfileFor(fake);
  return { fake, profile };
}

/** The proof a token request carried: header and claims. */
function proofOf(request: RecordedRequest | undefined) {
  const proof = request?.headers.dpop;
  if (!proof) throw new Error("the request carried no DPoP proof");
  return { header: decodeProtectedHeader(proof), claims: decodeJwt(proof) };
}

async function approvedToken(poll: (id: string) => Promise<{ kind: string; token?: TokenResult }>, authReqId: string, intervalMs: number): Promise<TokenResult> {
  await sleep(intervalMs);
  const outcome = await poll(authReqId);
  if (outcome.kind !== "approved" || !outcome.token) throw new Error(`not approved: ${outcome.kind}`);
  return outcome.token;
}

describe("WSO2 with the DPoP token binding type", () => {
  it("binds the agent token and the on-behalf-of token to the agent's key; /mcp reads the binding", async () => {
    const { fake, profile } = await wso2Profile({ tokenBindingType: "DPoP" });
    const agent = await profile.getAgentToken();
    expect(agent.dpop).toBeDefined();
    expect(agent.claims.cnf).toEqual({ jkt: agent.dpop!.thumbprint });

    const exchange = proofOf(fake.requestsTo("/oauth2/token")[0]);
    expect(exchange.header).toMatchObject({ typ: "dpop+jwt", alg: "ES256", jwk: { kty: "EC", crv: "P-256" } });
    expect(exchange.header.jwk).not.toHaveProperty("d");
    expect(exchange.claims).toMatchObject({ htm: "POST", htu: `${fake.base}/oauth2/token`, jti: expect.any(String), iat: expect.any(Number) });
    expect(exchange.claims.ath).toBeUndefined();

    const ack = await profile.startCiba(sampleCibaRequest(agent.accessToken, { quantity: 3 }));
    fake.approve(ack.authReqId);
    const obo = await approvedToken((id) => profile.pollCiba(id), ack.authReqId, 2100);
    expect(obo.dpop).toBe(agent.dpop);
    expect(obo.claims.cnf).toEqual({ jkt: agent.dpop!.thumbprint });
    const poll = fake.requestsTo("/oauth2/token").at(-1)!;
    expect(poll.form?.grant_type).toBe("urn:openid:params:grant-type:ciba");
    expect(proofOf(poll).claims.jti).not.toBe(exchange.claims.jti);

    const principal = await verifyAccessToken(obo.accessToken, { issuer: fake.issuer, audience: fake.options.clientId, keys: remoteKeys(fake.jwksUri), agentId: fake.options.agentId, agentClientId: fake.options.clientId });
    expect(principal.confirmation).toEqual({ jkt: agent.dpop!.thumbprint });
  });

  it("the fake refuses a token request of such an application without a proof (invalid_dpop_proof)", async () => {
    const { fake } = await wso2Profile({ tokenBindingType: "DPoP" });
    const res = await fetch(`${fake.base}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${fake.options.clientId}:${fake.options.clientSecret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "authorization_code", code: "x", redirect_uri: fake.options.redirectUri }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "invalid_dpop_proof", error_description: "DPoP header is required." });
  });
});

describe("WSO2 with another token binding type", () => {
  it("ignores the proofs the agent sends: bearer tokens without cnf", async () => {
    const { fake, profile } = await wso2Profile({ tokenBindingType: "None" });
    const agent = await profile.getAgentToken();
    expect(proofOf(fake.requestsTo("/oauth2/token")[0]).claims.htm).toBe("POST");
    expect(agent.dpop).toBeUndefined();
    expect(agent.claims.cnf).toBeUndefined();
    const ack = await profile.startCiba(sampleCibaRequest(agent.accessToken, { quantity: 3 }));
    fake.approve(ack.authReqId);
    const obo = await approvedToken((id) => profile.pollCiba(id), ack.authReqId, 2100);
    expect(obo.dpop).toBeUndefined();
    expect(obo.claims.cnf).toBeUndefined();
  });
});

describe("Auth0", () => {
  it("binds the agent token when the API allows sender constraining; the CIBA poll carries no proof and stays bearer", async () => {
    const { fake, profile } = await auth0Profile({ senderConstraining: "allowed" });
    const agent = await profile.getAgentToken();
    expect(agent.dpop).toBeDefined();
    expect(agent.claims.cnf).toEqual({ jkt: agent.dpop!.thumbprint });
    expect(proofOf(fake.requestsTo("/oauth/token")[0]).claims).toMatchObject({ htm: "POST", htu: `${fake.origin}/oauth/token` });

    const ack = await profile.startCiba(sampleCibaRequest(agent.accessToken, { quantity: 3 }));
    fake.approve(ack.authReqId);
    const obo = await approvedToken((id) => profile.pollCiba(id), ack.authReqId, 1100);
    expect(fake.requestsTo("/oauth/token").at(-1)!.headers.dpop).toBeUndefined();
    expect(obo.dpop).toBeUndefined();
    expect(obo.claims.cnf).toBeUndefined();
  });

  it("issues a bearer agent token, proof or not, when the API has no sender-constraining policy", async () => {
    const { fake, profile } = await auth0Profile({});
    const agent = await profile.getAgentToken();
    expect(fake.requestsTo("/oauth/token")[0]!.headers.dpop).toEqual(expect.any(String));
    expect(agent.dpop).toBeUndefined();
    expect(agent.claims.cnf).toBeUndefined();
  });
});

describe("a token response the client refuses", () => {
  const response = (claims: Record<string, unknown>, tokenType: string) =>
    ({ access_token: new UnsecuredJWT(claims).encode(), token_type: tokenType, expires_in: 300 }) as unknown as client.TokenEndpointResponse;

  it("a DPoP token for a request that carried no proof", () => {
    expect(() => toTokenResult(response({ sub: "alice" }, "dpop"))).toThrow(/^invalid_response: /);
  });

  it("a DPoP token bound to another key than the proof's", async () => {
    const ours = await generateDPoPKey();
    const theirs = await generateDPoPKey();
    expect(() => toTokenResult(response({ sub: "alice", cnf: { jkt: theirs.thumbprint } }, "dpop"), ours)).toThrow(/^invalid_response: /);
    expect(toTokenResult(response({ sub: "alice", cnf: { jkt: ours.thumbprint } }, "dpop"), ours).dpop).toBe(ours);
    expect(toTokenResult(response({ sub: "alice" }, "bearer"), ours).dpop).toBeUndefined();
  });
});
