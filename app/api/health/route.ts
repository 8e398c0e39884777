import { getRuntime } from "@/lib/runtime";
import { json } from "@/lib/http";
import { marketLease } from "@/lib/store/leases";

export const dynamic = "force-dynamic";

/**
 * Liveness and readiness: answers once the store is open and the market is loaded. Also says
 * which instance answers and what it runs (several instances on one PostgreSQL): whether it
 * leads the market ticker, and the agents it owns (their lease names, `agent:<investor>:<agent>`).
 */
export async function GET(): Promise<Response> {
  const rt = await getRuntime();
  const held = rt.leases.held();
  return json({
    status: "ok",
    startedAt: rt.startedAt,
    store: rt.db.engine,
    auth: rt.config.auth.provider,
    instance: {
      id: rt.leases.instanceId,
      leadsTicker: held.includes(marketLease(rt.config.market.symbol)),
      agents: held.filter((name) => name.startsWith("agent:")).map((name) => {
        const [, investor, agent] = name.split(":");
        return { investor, agent };
      }),
    },
  });
}
