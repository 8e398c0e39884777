import { afterEach } from "vitest";
import { Agent } from "@/lib/agent/agent";
import { createRulesModel } from "@/lib/agent/models/rules-model";
import type { ModelChoice } from "@/lib/agent/models/select";
import { loadAgentRow } from "@/lib/agent/repository";
import { parseConfig } from "@/lib/config";
import { ActivityLog } from "@/lib/events/activity";
import { EventBus } from "@/lib/events/bus";
import type { StockTradeDetail } from "@/lib/orders/order";
import { FakeMcpClient, FakeProfile } from "./agent-fakes";
import { emptyTables, useTestDb } from "./store";

/**
 * The agent loop with its real state machine, store and steps, and fakes at the edges: a
 * scripted identity server profile, a broker that answers like the MCP server, and the model a
 * test gives it. `useAgentHarness()` registers the file's hooks: one store for the file, emptied
 * before each case, every agent stopped after it. The agent's clock is the real one plus what the
 * test advances, and its wait between CIBA polls moves that clock by the wait and returns once
 * the fake server has a scripted answer.
 */
export const rulesModel = (): ModelChoice => ({ model: createRulesModel(), label: "rules", kind: "rules" });

export interface HarnessOptions {
  model?: ModelChoice;
  profile?: FakeProfile;
  broker?: FakeMcpClient;
}

export function useAgentHarness() {
  const running: Agent[] = [];
  const store = useTestDb((db) => emptyTables(db));
  afterEach(async () => {
    for (const a of running.splice(0)) await a.stop();
  });

  async function harness(options: HarnessOptions = {}) {
    const config = parseConfig({ NODE_ENV: "test", AGENT_COOLDOWN_SECONDS: "30" });
    const db = store;
    const bus = new EventBus();
    const activity = new ActivityLog(db, bus);
    const profile = options.profile ?? new FakeProfile();
    const broker = options.broker ?? new FakeMcpClient();
    let offset = 0;
    const agent = new Agent({
      config,
      db,
      bus,
      activity,
      clientSecret: "unused",
      model: options.model ?? rulesModel(),
      profile,
      mcpClient: () => broker,
      now: () => new Date(Date.now() + offset),
      sleep: async (ms, signal) => {
        offset += ms;
        await profile.answerScripted(signal);
      },
      tickMs: 3_600_000, // ticks are driven by the test
    });
    running.push(agent);
    await agent.start();
    await agent.tick(); // joins the first tick start() fired
    return {
      agent,
      db,
      profile,
      broker,
      activity,
      advance: (ms: number) => void (offset += ms),
      /** One tick and the work it started, to the end. */
      step: async () => {
        await agent.tick();
        await agent.idle();
      },
      kinds: async () => (await activity.list()).map((e) => e.kind).reverse(),
      row: () => loadAgentRow(db, config.agent.id),
      orders: () => db.query<{ order_id: string; status: string; quantity: number; detail: StockTradeDetail }>("SELECT order_id, status, quantity, detail FROM orders ORDER BY created_at"),
      approvals: () => db.query<{ auth_req_id: string; status: string }>("SELECT auth_req_id, status FROM pending_approvals ORDER BY created_at"),
    };
  }

  return { harness, store: () => store };
}

export type AgentHarness = Awaited<ReturnType<ReturnType<typeof useAgentHarness>["harness"]>>;

/** The simulated price falls below the threshold (140.00): 131.20. */
export const crash = (h: AgentHarness) => void (h.broker.priceCents = 13120);

/** The order of the last CIBA request the agent sent. */
export const frozenOrder = (h: AgentHarness) => h.profile.cibaRequests.at(-1)!.order;

export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
