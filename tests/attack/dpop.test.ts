import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentMcpClient } from "../../lib/agent/mcp-client";
import { generateDPoPKey, type DPoPKey } from "../../lib/auth/dpop";
import type { IdentityServerProfile, TokenResult } from "../../lib/auth/profiles/types";
import type { StockTradeDetail } from "../../lib/orders/order";
import { accessTokenHash } from "../../mcp/dpop";
import { startEmbeddedWorld, type EmbeddedWorld } from "../helpers/embedded-world";

/**
 * The stolen DPoP-bound token. The embedded server (the real oidc-provider) binds the agent's
 * tokens to the agent's in-memory key; the on-behalf-of token for Alice's approved order leaks
 * (a log, a proxy, a crash report), perhaps with proofs the agent sent earlier. Every way the
 * thief presents it to the real /mcp endpoint is refused with 401 and the exact error, and
 * Alice's ledger (trades, cash, holdings) does not move. The agent itself, with the key, trades
 * the order once.
 */
let world: EmbeddedWorld;
let profile: IdentityServerProfile;
let agentToken: TokenResult;
let obo: TokenResult;
let order: StockTradeDetail;
let thiefKey: DPoPKey;
let before: Awaited<ReturnType<EmbeddedWorld["ledger"]>>;

beforeAll(async () => {
  world = await startEmbeddedWorld();
  profile = world.profile();
  agentToken = await profile.getAgentToken();
  order = world.order();
  const authReqId = await world.approve(profile, order, agentToken.accessToken);
  obo = await world.pollApproved(profile, authReqId);
  thiefKey = await generateDPoPKey();
  before = await world.ledger();
});
afterAll(async () => {
  await world?.stop();
});

const resource = () => world.config.mcp.resourceUrl;
const buy = () => ({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "buy_stock", arguments: { symbol: order.symbol, quantity: order.quantity, order_id: order.order_id } } });

/** A proof signed with `key`, as a DPoP client makes one, any claim overridden. */
function proof(key: DPoPKey, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm: "POST", htu: resource(), iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(obo.accessToken), ...claims })
    .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk })
    .sign(key.privateKey);
}

/** buy_stock for the approved order, presented however the thief likes. */
async function attempt(authorization: string, dpop?: string): Promise<{ status: number; error: string }> {
  const res = await world.mcpFetch(resource(), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization, ...(dpop ? { dpop } : {}) },
    body: JSON.stringify(buy()),
  });
  const body = (await res.json()) as { error?: string };
  return { status: res.status, error: body.error ?? "" };
}

describe("the embedded server binds the agent's tokens to its key", () => {
  it("the agent token and the on-behalf-of token are DPoP tokens whose cnf.jkt is the agent's key", () => {
    expect(agentToken.dpop).toBeDefined();
    expect(agentToken.claims.cnf).toEqual({ jkt: agentToken.dpop!.thumbprint });
    expect(obo.dpop).toBe(agentToken.dpop);
    expect(obo.claims).toMatchObject({ sub: world.config.investor.userId, act: { sub: world.config.agent.id }, cnf: { jkt: agentToken.dpop!.thumbprint } });
    expect(obo.authorizationDetails).toEqual([order]);
  });
});

describe("the stolen on-behalf-of token buys nothing", () => {
  it.each<[string, string, () => Promise<[string, string?]>]>([
    ["presented as a bearer token", "invalid_token", async () => [`Bearer ${obo.accessToken}`]],
    ["presented as a bearer token with a proof of the thief's key", "invalid_token", async () => [`Bearer ${obo.accessToken}`, await proof(thiefKey)]],
    ["with the DPoP scheme and no proof", "invalid_dpop_proof", async () => [`DPoP ${obo.accessToken}`]],
    ["with a proof signed by the thief's key", "invalid_dpop_proof", async () => [`DPoP ${obo.accessToken}`, await proof(thiefKey)]],
    ["with the agent's proof for another method", "invalid_dpop_proof", async () => [`DPoP ${obo.accessToken}`, await proof(obo.dpop!, { htm: "GET" })]],
    ["with the agent's proof for the token endpoint", "invalid_dpop_proof", async () => [`DPoP ${obo.accessToken}`, await proof(obo.dpop!, { htu: `${world.config.auth.issuer}/token` })]],
    ["with the agent's proof for its own token (wrong ath)", "invalid_dpop_proof", async () => [`DPoP ${obo.accessToken}`, await proof(obo.dpop!, { ath: accessTokenHash(agentToken.accessToken) })]],
    ["with an old proof of the agent (stale iat)", "invalid_dpop_proof", async () => [`DPoP ${obo.accessToken}`, await proof(obo.dpop!, { iat: Math.floor(Date.now() / 1000) - 300 })]],
  ])("%s: 401 %s, ledger unchanged", async (_name, error, make) => {
    const [authorization, dpop] = await make();
    expect(await attempt(authorization, dpop)).toEqual({ status: 401, error });
    expect(await world.ledger()).toEqual(before);
  });

  it("with a proof the agent already used (replayed jti): 401 invalid_dpop_proof, ledger unchanged", async () => {
    // The agent reads the portfolio with the token and a proof; the thief copies both.
    const seen = await proof(obo.dpop!);
    const read = await world.mcpFetch(resource(), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `DPoP ${obo.accessToken}`, dpop: seen },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_portfolio", arguments: {} } }),
    });
    expect(read.status).toBe(200);
    expect(await attempt(`DPoP ${obo.accessToken}`, seen)).toEqual({ status: 401, error: "invalid_dpop_proof" });
    expect(await world.ledger()).toEqual(before);
  });

  it("exchanged for a bearer token by a thief who also holds the client secret: invalid_grant, nothing issued", async () => {
    const { agentClientId, agentClientSecret, issuer } = world.config.auth;
    for (const [name, params] of [
      ["subject_token", { subject_token: obo.accessToken, subject_token_type: "urn:ietf:params:oauth:token-type:access_token" }],
      ["actor_token", { subject_token: obo.accessToken, subject_token_type: "urn:ietf:params:oauth:token-type:access_token", actor_token: agentToken.accessToken, actor_token_type: "urn:ietf:params:oauth:token-type:access_token" }],
    ] as const) {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${agentClientId}:${agentClientSecret}`).toString("base64")}` },
        body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", ...params }),
      });
      const body = (await res.json()) as { error?: string; error_description?: string; access_token?: string };
      expect({ name, status: res.status, error: body.error, issued: body.access_token !== undefined }).toEqual({ name, status: 400, error: "invalid_grant", issued: false });
    }
    expect(await world.ledger()).toEqual(before);
  });

  it("the agent token presented as a bearer token cannot even read", async () => {
    const res = await world.mcpFetch(resource(), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${agentToken.accessToken}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_market_price", arguments: { symbol: order.symbol } } }),
    });
    expect(res.status).toBe(401);
  });
});

describe("the agent, holding the key", () => {
  it("reads with its DPoP-bound token and trades the approved order exactly once", async () => {
    const broker = new AgentMcpClient({ url: resource(), fetch: world.mcpFetch, readToken: async () => agentToken, onUnauthorized: async () => undefined });
    try {
      expect((await broker.getPrice(order.symbol)).priceCents).toBeGreaterThan(0);
      const outcome = await broker.trade("buy", { symbol: order.symbol, quantity: order.quantity, order_id: order.order_id }, obo);
      expect(outcome).toMatchObject({ kind: "executed", quantity: order.quantity });
      const after = await world.ledger();
      expect(after.trades).toBe(before.trades + 1);
      expect(after.cash).toBeLessThan(before.cash!);
      // The same token again, even with a fresh proof from the right key: the order executes once.
      expect(await broker.trade("buy", { symbol: order.symbol, quantity: order.quantity, order_id: order.order_id }, obo)).toMatchObject({ kind: "refused", code: "already_executed" });
      expect(await world.ledger()).toEqual(after);
    } finally {
      await broker.close();
    }
  });
});
