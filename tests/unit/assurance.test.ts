import { afterEach, describe, expect, it } from "vitest";
import { assuranceFor, metadataFromDiscovery, type Assurance, type GuaranteeId, type ServerMetadata } from "@/lib/assurance";
import { deriveAssurance, type AssuranceInput } from "@/lib/assurance/derive";
import { proofOfPossessionFor } from "@/lib/auth/profiles/proof-of-possession";
import type { TokenClaims } from "@/lib/auth/types";
import { parseConfig } from "@/lib/config";
import { auth0ProfileFor, startAuth0Fake, type Auth0Fake } from "../fakes/auth0-fake";
import { sampleCibaRequest } from "../helpers/orders";

/**
 * The assurance in force (lib/assurance/derive.ts): which guarantees bind a trade to Alice's
 * approval, derived from the configuration's binding rule, the profile's use of DPoP, the server's
 * metadata and the tokens it issued, never from the provider's name alone.
 */
const claims = (c: Partial<TokenClaims>): TokenClaims => ({ opaque: false, ...c });
const BOUND = claims({ sub: "aurelius", cnf: { jkt: "thumbprint" } });
const BEARER = claims({ sub: "aurelius" });
const advertised = (types?: string[], dpop?: string[]): ServerMetadata => ({ kind: "read", authorizationDetailsTypes: types, dpopAlgorithms: dpop });

const input = (over: Partial<AssuranceInput> = {}): AssuranceInput => ({
  provider: "embedded",
  bindingRule: "rar",
  detailsType: "stock_trade",
  proofOfPossession: proofOfPossessionFor("embedded"),
  dpopAlgorithm: "ES256",
  metadata: advertised(["stock_trade"], ["ES256", "EdDSA"]),
  observed: { agentToken: null, oboToken: null },
  ...over,
});

const pick = (a: Assurance, id: GuaranteeId) => a.guarantees.find((g) => g.id === id)!;
const states = (a: Assurance) => Object.fromEntries(a.guarantees.map((g) => [g.id, `${g.state}/${g.tone}`]));

describe("deriving the assurance in force", () => {
  it("embedded default: the order in the token, no recorded approval needed, DPoP shown by the bound agent token", () => {
    const a = deriveAssurance(input({ observed: { agentToken: BOUND, oboToken: null } }));
    expect(states(a)).toEqual({ "order-in-token": "holds/good", "recorded-approval": "not-in-force/neutral", dpop: "holds/good" });
    expect(pick(a, "order-in-token").basis).toContain("The server advertises stock_trade (authorization_details_types_supported).");
    expect(pick(a, "dpop").basis).toContain("The agent token, requested the same way, is bound (cnf.jkt).");
  });

  it("the recorded-approval rule: the order is not in the token, the approval binds it", () => {
    const a = deriveAssurance(input({ provider: "wso2", bindingRule: "recorded-approval", metadata: advertised(undefined, undefined), observed: { agentToken: BEARER, oboToken: claims({ sub: "alice" }) } }));
    expect(states(a)).toEqual({ "order-in-token": "not-in-force/weak", "recorded-approval": "holds/good", dpop: "not-in-force/weak" });
    expect(pick(a, "recorded-approval").basis).toContain("The last on-behalf-of token had no jti: it could not be bound, and the agent did not trade with it.");
  });

  it("Auth0: the CIBA poll carries no proof, so the trade token is a bearer token even when the agent token is bound", () => {
    const a = deriveAssurance(input({ provider: "auth0", proofOfPossession: proofOfPossessionFor("auth0"), metadata: advertised(undefined, ["ES256"]), observed: { agentToken: BOUND, oboToken: null } }));
    expect(states(a)).toEqual({ "order-in-token": "holds/good", "recorded-approval": "not-in-force/neutral", dpop: "not-in-force/weak" });
    expect(pick(a, "dpop").basis).toEqual(["Client: Auth0 does not sender-constrain the CIBA grant, so the poll carries no DPoP proof."]);
    expect(pick(a, "order-in-token").basis).toContain("The server does not advertise authorization_details types (authorization_details_types_supported).");
  });

  it("reads DPoP from the server's metadata, not from the provider's name", () => {
    const noDpop = deriveAssurance(input({ metadata: advertised(["stock_trade"], undefined) }));
    expect(pick(noDpop, "dpop")).toMatchObject({ state: "not-in-force", tone: "weak", summary: "The server does not offer DPoP: the trade token will be a bearer token." });
    const otherAlgs = deriveAssurance(input({ metadata: advertised(["stock_trade"], ["RS256"]) }));
    expect(pick(otherAlgs, "dpop")).toMatchObject({ state: "not-in-force", basis: expect.arrayContaining(["The server's dpop_signing_alg_values_supported (RS256) lacks the agent's ES256."]) });
    const policyUnknown = deriveAssurance(input());
    expect(pick(policyUnknown, "dpop")).toMatchObject({ state: "unknown", tone: "unknown" });
  });

  it("a token the server issued outweighs its metadata: the last on-behalf-of token first, then the agent token", () => {
    expect(pick(deriveAssurance(input({ metadata: advertised(undefined, undefined), observed: { agentToken: BOUND, oboToken: null } })), "dpop").state).toBe("holds");
    const unboundObo = deriveAssurance(input({ observed: { agentToken: BOUND, oboToken: claims({ sub: "alice", authorization_details: [{ type: "stock_trade" }] }) } }));
    expect(pick(unboundObo, "dpop")).toMatchObject({ state: "not-in-force", summary: "The server issued the trade token unbound: it is a bearer token." });
    expect(pick(unboundObo, "order-in-token").basis).toContain("The last on-behalf-of token carried the order.");
    expect(pick(deriveAssurance(input({ observed: { agentToken: BEARER, oboToken: null } })), "dpop")).toMatchObject({ state: "not-in-force", tone: "weak" });
  });

  it("says unknown when the server's metadata is out of reach and no token shows its policy", () => {
    const a = deriveAssurance(input({ metadata: { kind: "unavailable", reason: "unreachable: ECONNREFUSED" } }));
    expect(pick(a, "dpop")).toMatchObject({ state: "unknown", basis: expect.arrayContaining(["Server metadata unavailable (unreachable: ECONNREFUSED)."]) });
    // The binding rule is configuration: it holds whatever the server says.
    expect(pick(a, "order-in-token").state).toBe("holds");
  });

  it("warns when the server lists authorization_details types but not the order's", () => {
    const a = deriveAssurance(input({ metadata: advertised(["payment_initiation"], ["ES256"]) }));
    expect(pick(a, "order-in-token").basis).toContain("The server advertises payment_initiation but not stock_trade: it may refuse the order.");
  });

  it("for an Auth0 configuration expects the Guardian type named by AUTH0_RAR_TYPE", () => {
    const config = parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://", AUTH_PROVIDER: "auth0", AUTH0_DOMAIN: "tenant.eu.auth0.com", AGENT_CLIENT_ID: "client", AGENT_CLIENT_SECRET: "s", INVESTOR_USER_ID: "auth0|x", AUTH0_RAR_TYPE: "trade" });
    const a = assuranceFor(config, advertised(["urn:auth0:schemas:authorization-details:v1:trade"], ["ES256"]), { agentToken: null, oboToken: null });
    expect(a.provider).toBe("auth0");
    expect(pick(a, "order-in-token").basis).toContain("The server advertises urn:auth0:schemas:authorization-details:v1:trade (authorization_details_types_supported).");
    expect(pick(a, "dpop").state).toBe("not-in-force");
  });
});

describe("the inputs match what the code and the server do", () => {
  let fake: Auth0Fake | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it("Auth0's profile sends a DPoP proof with the agent token and none with the CIBA poll, as proofOfPossessionFor says", async () => {
    fake = await startAuth0Fake({ interval: 1, senderConstraining: "allowed" });
    const profile = auth0ProfileFor(fake);
    const agent = await profile.getAgentToken();
    const { authReqId } = await profile.startCiba(sampleCibaRequest(agent.accessToken));
    fake.approve(authReqId);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await profile.pollCiba(authReqId)).kind).toBe("approved");
    const [tokenRequest, poll] = fake.requestsTo("/oauth/token");
    const use = proofOfPossessionFor("auth0");
    expect(tokenRequest!.headers.dpop !== undefined).toBe(use.agentToken);
    expect(poll!.headers.dpop !== undefined).toBe(use.onBehalfOf);
  });

  it("reads the two members from a discovery document, absent stays absent", async () => {
    fake = await startAuth0Fake({ senderConstraining: "allowed" });
    const doc = (await (await fetch(`${fake.origin}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadataFromDiscovery(doc)).toEqual({ kind: "read", authorizationDetailsTypes: undefined, dpopAlgorithms: ["ES256"] });
    expect(metadataFromDiscovery({ authorization_details_types_supported: ["stock_trade", 7], dpop_signing_alg_values_supported: "ES256" })).toEqual({
      kind: "read",
      authorizationDetailsTypes: ["stock_trade"],
      dpopAlgorithms: undefined,
    });
  });
});
