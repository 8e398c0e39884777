import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Agent } from "@/lib/agent/agent";
import type { AccessCredential, McpClientPort, Quote, TradeArgs, TradeOutcome } from "@/lib/agent/mcp-client";
import { createRulesModel } from "@/lib/agent/models/rules-model";
import { createIdentityServerProfile } from "@/lib/auth/profiles";
import type { IdentityServerProfile } from "@/lib/auth/profiles/types";
import { parseConfig } from "@/lib/config";
import { ProtocolError } from "@/lib/errors";
import { ActivityLog } from "@/lib/events/activity";
import { EventBus } from "@/lib/events/bus";
import { startWso2Fake, type Wso2Fake } from "../fakes/wso2-fake";
import { rejection } from "../helpers/failures";
import { openTestDb } from "../helpers/store";
import { wso2EnvFor } from "../helpers/wso2-env";
import { challengeFor } from "../helpers/orders";

/**
 * The whole agent (rules model, CIBA poller, activity log) with the WSO2 profile built from the
 * configuration, against the WSO2 fake: what Alice reads when WSO2 ends a request, and what a
 * wrong AUTH_ISSUER costs. The broker is a recording stand-in: 403 for the agent's own token,
 * executes with any other.
 */
class RecordingBroker implements McpClientPort {
  priceCents = 15000;
  trades: string[] = [];
  prices = 0;
  async getPrice(symbol: string): Promise<Quote> {
    this.prices += 1;
    return { symbol, priceCents: this.priceCents, status: "CRASHING", at: new Date().toISOString() };
  }
  async trade(side: "buy" | "sell", args: TradeArgs, credential: AccessCredential): Promise<TradeOutcome> {
    const aut = decodeJwt(credential.accessToken).aut;
    if (aut === "AGENT") return challengeFor(side, args);
    this.trades.push(String(aut));
    return { kind: "executed", tradeId: this.trades.length, quantity: args.quantity, priceCents: this.priceCents, data: {} };
  }
  async close(): Promise<void> {}
}

let fake: Wso2Fake;
const agents: Agent[] = [];
beforeAll(async () => {
  fake = await startWso2Fake({ orgPath: "/t/carbon.super" });
});
afterEach(async () => {
  vi.useRealTimers();
  for (const a of agents.splice(0)) await a.stop();
});
afterAll(async () => {
  await fake?.close();
});

async function agentFor(env: Record<string, string> = {}) {
  const config = parseConfig({ NODE_ENV: "test", ...wso2EnvFor(fake), INVESTOR_USER_ID: fake.options.users["alice@example.com"]!, AGENT_COOLDOWN_SECONDS: "30", ...env });
  const db = await openTestDb();
  const bus = new EventBus();
  const activity = new ActivityLog(db, bus);
  const profile: IdentityServerProfile = createIdentityServerProfile(config, { clientSecret: fake.options.clientSecret, fetch: (input, init) => fetch(input, init) });
  const broker = new RecordingBroker();
  const agent = new Agent({ config, db, bus, activity, clientSecret: fake.options.clientSecret, model: { model: createRulesModel(), label: "rules", kind: "rules" }, profile, mcpClient: () => broker, tickMs: 3_600_000 });
  agents.push(agent);
  const orders = () => db.query<{ status: string }>("SELECT status FROM orders");
  const lines = async () => (await activity.list()).map((e) => `${e.kind} ${e.message}`);
  return { config, agent, broker, profile, orders, lines };
}

describe("WSO2 ends the approval request with access_denied", () => {
  it.each([
    ["someone signs in as another user than Alice", "signInAsAnotherUser"],
    ["Alice denies", "deny"],
  ] as const)("%s: no trade, and the activity log says what WSO2's answer can mean, not that Alice denied", async (_name, decision) => {
    const { agent, broker, orders, lines } = await agentFor();
    await agent.start();
    await agent.tick();
    const before = fake.ciba.length;
    broker.priceCents = 13120;
    const work = (async () => {
      await agent.tick();
      await agent.idle();
    })();
    const request = await fake.waitForCiba(before + 1, 30_000);
    fake[decision](request.authReqId);
    await work;

    expect(broker.trades).toEqual([]);
    expect(await orders()).toEqual([{ status: "denied" }]);
    const log = (await lines()).join("\n");
    expect(log).toContain(
      'agent.denied No trade: the identity server ended the request with access_denied ("User denied authentication"): Alice denied it, or the approver signed in as another user than Alice, or the sign-in failed (the server answers all three the same way).',
    );
    expect(log).not.toContain("Alice denied the request");
  });
});

describe("a wrong AUTH_ISSUER", () => {
  it("stops the agent at its own token with a clear configuration error: it never reads a price nor asks Alice", async () => {
    const wrong = `${fake.base}/oauth2/token`; // the base URL's, not the issuer WSO2 signs with
    const { agent, broker, orders, lines, profile } = await agentFor({ AUTH_ISSUER: wrong });
    const before = fake.ciba.length;
    // Past the start-up grace in which a failing tick stays quiet.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    await agent.start();
    vi.setSystemTime(Date.now() + 16_000);
    broker.priceCents = 13120;
    await agent.tick();
    await agent.idle();

    expect(broker.prices).toBe(0);
    expect(fake.ciba.length).toBe(before);
    expect(await orders()).toEqual([]);
    const log = (await lines()).join("\n");
    expect(log).toContain(`agent.unavailable Aurelius could not obtain its agent token: issuer_mismatch: the server signed its ID token as issuer ${fake.issuer}, but this app trusts ${wrong}. Retrying with back-off.`);
    expect(log).not.toMatch(/unreachable/);
    const error = (await rejection(profile.getAgentToken())) as ProtocolError;
    expect(error).toMatchObject({ code: "issuer_mismatch", retryable: false });
  });

  it("(control) unset, the agent trusts the issuer WSO2's discovery names and asks Alice", async () => {
    const { agent, broker } = await agentFor();
    await agent.start();
    await agent.tick();
    const before = fake.ciba.length;
    broker.priceCents = 13120;
    await agent.tick();
    const request = await fake.waitForCiba(before + 1, 30_000);
    expect(decodeJwt(request.form.actor_token!).iss).toBe(fake.issuer);
    fake.deny(request.authReqId);
    await agent.idle();
  });
});
