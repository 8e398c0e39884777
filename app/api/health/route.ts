import { getRuntime } from "@/lib/runtime";
import { json } from "@/lib/http";
import { agentLease, marketLease } from "@/lib/store/leases";

export const dynamic = "force-dynamic";

/**
 * Liveness and readiness: answers once the store is open and the market is loaded. Also says
 * which instance answers and what it runs (several instances on one PostgreSQL): whether it
 * leads the market ticker, and the agents it runs (it holds their leases).
 */
export async function GET(): Promise<Response> {
  const rt = await getRuntime();
  const { agent } = rt.config;
  return json({
    status: "ok",
    startedAt: rt.startedAt,
    store: rt.db.engine,
    auth: rt.config.auth.provider,
    instance: {
      id: rt.leases.instanceId,
      leadsTicker: rt.leases.holds(marketLease(rt.config.market.symbol)),
      agents: [...rt.agents.keys()].filter((sub) => rt.leases.holds(agentLease(sub, agent.id))).map((sub) => ({ investor: sub, agent: agent.id })),
    },
  });
}
