import { openDb, type Db } from "@/lib/store/db";
import { agentOf, waitUntil } from "./agent-app";
import type { AppServer } from "./app-server";
import { startCluster, type Cluster } from "./cluster";

/** Two instances, Alice's agent running on one of them (`owner`) with its token, and the store open to the test. */
export interface AgentPair {
  cluster: Cluster;
  db: Db;
  owner: AppServer;
  other: AppServer;
  /** Each instance's id (INSTANCE_ID), as /api/health names it. */
  idOf: Map<AppServer, string>;
  close(): Promise<void>;
}

export async function startAgentPair(env: Record<string, string> = {}): Promise<AgentPair> {
  const cluster = await startCluster(2, env);
  const db = await openDb({ databaseUrl: cluster.pg.url, dataDir: "unused" });
  const close = async () => {
    await db.close();
    await cluster.close();
  };
  try {
    const idOf = new Map<AppServer, string>();
    const owners: AppServer[] = [];
    for (const app of cluster.apps) {
      const health = await cluster.health(app);
      if (!health) throw new Error(`${app.url} does not answer /api/health`);
      idOf.set(app, health.instance.id);
      if (health.instance.agents.length) owners.push(app);
    }
    if (owners.length !== 1) throw new Error(`${owners.length} instances run the agent, not one`);
    const owner = owners[0]!;
    await waitUntil(() => agentOf(owner.url), (a) => a.tokens.agent !== null, 30_000, "the agent's token");
    return { cluster, db, owner, other: cluster.apps.find((a) => a !== owner)!, idOf, close };
  } catch (error) {
    await close();
    throw error;
  }
}
