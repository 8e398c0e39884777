import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { ProtocolError } from "@/lib/errors";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "@/lib/agent/agent";
import type { AccessCredential, McpClientPort, Quote, TradeArgs, TradeOutcome } from "@/lib/agent/mcp-client";
import { deriveBindingMessage } from "@/lib/orders/binding-message";
import { freezeOrder } from "@/lib/orders/freeze";
import { createRulesModel } from "@/lib/agent/models/rules-model";
import type { FetchLike } from "@/lib/auth/app-fetch";
import { type CibaPollOutcome, type IdentityServerProfile } from "@/lib/auth/profiles/types";
import { parseConfig } from "@/lib/config";
import { ActivityLog } from "@/lib/events/activity";
import { EventBus } from "@/lib/events/bus";
import { auth0ProfileFor, startAuth0Fake, type Auth0Fake } from "../fakes/auth0-fake";
import { startWso2Fake, wso2ProfileFor, type Wso2Fake } from "../fakes/wso2-fake";
import { startEmbeddedWorld, type EmbeddedWorld } from "../helpers/embedded-world";
import { wso2EnvFor } from "../helpers/wso2-env";
import { openTestDb } from "../helpers/store";
import { challengeFor } from "../helpers/orders";

/**
 * The forged ID token. Someone on the path between the agent and its identity server (a
 * TLS-intercepting proxy, a poisoned resolver with a trusted certificate) answers the token
 * request that redeems Alice's approval, and the ID token in that answer is not signed by the
 * issuer: signed by another key under the issuer's `kid`, or not signed at all (`alg: none`). The
 * client verifies ID tokens against the issuer's JWKS (OpenID Connect Core §3.1.3.7), so it
 * refuses the whole response: no on-behalf-of token comes out of the profile, the agent never
 * calls buy_stock with one, and the order ends failed. Each case has a control: the same flow
 * untouched yields the token (or the trade), so the test fails if the refusal comes from anything
 * but the signature.
 */
type Forgery = "foreign-key" | "alg-none";
const CIBA_GRANT = "urn:openid:params:grant-type:ciba";

/** A fetch that re-signs the id_token of token responses for `grant` (when `forgery` is set). */
function interceptor(base: FetchLike = fetch): { fetch: FetchLike; forge(grant: string, forgery: Forgery | undefined): void; forged: () => number } {
  let target: { grant: string; forgery: Forgery } | undefined;
  let count = 0;
  return {
    forge: (grant, forgery) => void (target = forgery ? { grant, forgery } : undefined),
    forged: () => count,
    fetch: async (input, init) => {
      const response = await base(input, init);
      const grant = init?.body instanceof URLSearchParams ? init.body.get("grant_type") : typeof init?.body === "string" ? new URLSearchParams(init.body).get("grant_type") : null;
      if (!target || grant !== target.grant || response.status !== 200) return response;
      const body = (await response.json()) as { id_token?: string };
      if (body.id_token) {
        body.id_token = await forge(body.id_token, target.forgery);
        count += 1;
      }
      return Response.json(body, { status: 200, headers: { "cache-control": "no-store" } });
    },
  };
}

const foreignKey = generateKeyPair("RS256");

async function forge(idToken: string, forgery: Forgery): Promise<string> {
  const claims = decodeJwt(idToken);
  if (forgery === "alg-none") {
    const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    return `${encode({ alg: "none", typ: "JWT" })}.${encode(claims)}.`;
  }
  const { kid } = decodeProtectedHeader(idToken);
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", ...(kid ? { kid } : {}) }).sign((await foreignKey).privateKey);
}

async function pollUntilFinal(profile: IdentityServerProfile, authReqId: string, intervalMs: number): Promise<CibaPollOutcome> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const outcome = await profile.pollCiba(authReqId);
    if (outcome.kind !== "pending" && outcome.kind !== "slow_down") return outcome;
  }
  throw new Error("the request was never decided");
}

describe("the embedded server (real oidc-provider): the ID token of the CIBA approval", () => {
  let world: EmbeddedWorld;
  const mitm = interceptor();
  let profile: IdentityServerProfile;

  beforeAll(async () => {
    world = await startEmbeddedWorld();
    profile = world.profile(mitm.fetch);
  });
  afterAll(async () => {
    await world?.stop();
  });

  it.each<[string, string, Forgery | undefined, Record<string, unknown>]>([
    ["signed by another key under the issuer's kid", "invalid", "foreign-key", { kind: "invalid", error: "invalid_response" }],
    ["unsigned (alg none)", "invalid", "alg-none", { kind: "invalid", error: "invalid_response" }],
    ["as the server signed it (control)", "approved", undefined, { kind: "approved" }],
  ])("%s: the poll ends %s", async (_name, kind, forgery, expected) => {
    const agentToken = await profile.getAgentToken();
    const forgedBefore = mitm.forged();
    mitm.forge(CIBA_GRANT, forgery);
    const authReqId = await world.approve(profile, world.order(), agentToken.accessToken);
    const outcome = await pollUntilFinal(profile, authReqId, world.config.idp.cibaIntervalSeconds * 1000 + 100);
    expect(mitm.forged() - forgedBefore).toBe(forgery === undefined ? 0 : 1);
    expect(outcome).toMatchObject(expected);
    expect("token" in outcome).toBe(kind === "approved");
  });
});

/** An MCP client answered as the broker would: 403 for the agent's own token, executes with any other; records every call. */
class RecordingMcpClient implements McpClientPort {
  priceCents = 15000;
  trades: { token: string; aut: unknown }[] = [];
  async getPrice(symbol: string): Promise<Quote> {
    return { symbol, priceCents: this.priceCents, status: "CRASHING", at: new Date().toISOString() };
  }
  async trade(side: "buy" | "sell", args: TradeArgs, credential: AccessCredential): Promise<TradeOutcome> {
    const aut = decodeJwt(credential.accessToken).aut;
    this.trades.push({ token: credential.accessToken, aut });
    if (aut === "AGENT") return challengeFor(side, args);
    return { kind: "executed", tradeId: this.trades.length, quantity: args.quantity, priceCents: this.priceCents, data: {} };
  }
  async close(): Promise<void> {}
}

describe("WSO2: the whole agent, when the approval comes back with a forged ID token", () => {
  let fake: Wso2Fake;
  const agents: Agent[] = [];
  beforeAll(async () => {
    fake = await startWso2Fake();
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
  });
  afterAll(async () => {
    await fake?.close();
  });

  async function runAgent(forgery: Forgery | undefined) {
    const mitm = interceptor();
    mitm.forge(CIBA_GRANT, forgery);
    // WSO2's configuration: the recorded-approval binding, as for every WSO2 tenant.
    const config = parseConfig({ NODE_ENV: "test", ...wso2EnvFor(fake), INVESTOR_USER_ID: fake.options.users["alice@example.com"]!, AGENT_COOLDOWN_SECONDS: "30" });
    const db = await openTestDb();
    const bus = new EventBus();
    const activity = new ActivityLog(db, bus);
    const profile = wso2ProfileFor(fake, { fetch: mitm.fetch });
    const broker = new RecordingMcpClient();
    const agent = new Agent({ config, db, bus, activity, clientSecret: "unused", model: { model: createRulesModel(), label: "rules", kind: "rules" }, profile, mcpClient: () => broker, tickMs: 3_600_000 });
    agents.push(agent);
    await agent.start();
    await agent.tick();
    const requests = fake.ciba.length;
    broker.priceCents = 13120;
    const work = (async () => {
      await agent.tick();
      await agent.idle();
    })();
    const request = await fake.waitForCiba(requests + 1, 30_000);
    fake.approve(request.authReqId);
    await work;
    const orders = await db.query<{ status: string }>("SELECT status FROM orders");
    const kinds = (await activity.list()).map((e) => e.kind);
    const messages = (await activity.list()).map((e) => e.message).join("\n");
    return { broker, orders, kinds, messages, forged: mitm.forged() };
  }

  it.each<[string, Forgery]>([
    ["signed by another key under the issuer's kid", "foreign-key"],
    ["unsigned (alg none)", "alg-none"],
  ])("%s: no on-behalf-of token is used, no trade, the order fails", async (_name, forgery) => {
    const run = await runAgent(forgery);
    expect(run.forged).toBe(1);
    expect(run.broker.trades.map((t) => t.aut)).toEqual(["AGENT"]);
    expect(run.orders).toEqual([{ status: "failed" }]);
    expect(run.kinds).not.toContain("agent.obo_token");
    expect(run.kinds).not.toContain("agent.trade");
    expect(run.messages).toMatch(/invalid_response/);
  });

  it("untouched (control): the agent trades once with the on-behalf-of token", async () => {
    const run = await runAgent(undefined);
    expect(run.forged).toBe(0);
    expect(run.broker.trades.map((t) => t.aut)).toEqual(["AGENT", "APPLICATION_USER"]);
    expect(run.orders).toEqual([{ status: "executed" }]);
  });
});

describe("WSO2 agent token and Auth0 approval", () => {
  let wso2: Wso2Fake;
  let auth0: Auth0Fake;
  beforeAll(async () => {
    wso2 = await startWso2Fake();
    auth0 = await startAuth0Fake({ interval: 1 });
  });
  afterAll(async () => {
    await wso2?.close();
    await auth0?.close();
  });

  it("WSO2: a code exchange answered with a forged ID token gives the agent no token at all", async () => {
    const mitm = interceptor();
    const profile = wso2ProfileFor(wso2, { fetch: mitm.fetch });
    mitm.forge("authorization_code", "foreign-key");
    const error = await profile.getAgentToken().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: "invalid_response", retryable: false });
    mitm.forge("authorization_code", undefined);
    expect((await profile.getAgentToken()).claims.sub).toBe(wso2.options.agentId);
  });

  it.each<[string, string, Forgery | undefined, number]>([
    ["unsigned (alg none)", "invalid", "alg-none", 1],
    ["signed by another key", "invalid", "foreign-key", 1],
    ["as Auth0 signed it (control)", "approved", undefined, 0],
  ])("Auth0: an approval whose ID token is %s ends %s", async (_name, kind, forgery, forged) => {
    const mitm = interceptor();
    const profile = auth0ProfileFor(auth0, { fetch: mitm.fetch });
    mitm.forge(CIBA_GRANT, forgery);
    const order = freezeOrder({ symbol: "NVDA", side: "buy", quantity: 2, limitPriceCents: 13120, maxNotionalCents: 500000, expiresAt: new Date(Date.now() + 180_000) });
    const ack = await profile.startCiba({ order, bindingMessage: deriveBindingMessage(order), actorToken: "unused-at-auth0", requestedExpirySeconds: 120 });
    auth0.approve(ack.authReqId);
    const outcome = await pollUntilFinal(profile, ack.authReqId, 1100);
    expect(outcome.kind).toBe(kind);
    expect(mitm.forged()).toBe(forged);
  });
});
