import "server-only";
import path from "node:path";
import { getConfig, type AppConfig } from "./config";
import { announceDevDefault } from "./dev-defaults";
import { ActivityLog } from "./events/activity";
import { EventBus } from "./events/bus";
import type { Agent } from "./agent";
import type { EmbeddedIdp } from "./idp";
import { ensurePortfolio } from "./ledger/portfolio";
import { MarketSimulator } from "./market/simulator";
import { formatMoney } from "./money";
import { openDb, type Db } from "./store/db";
import { migrate, readMigrations } from "./store/migrate";

/**
 * The background runtime: the store, the event bus, the market ticker, the embedded identity
 * server and the agent loop. Route handlers and instrumentation.ts get
 * different module instances in Next.js, so the one running instance lives on globalThis and is
 * started at most once per process, whoever asks first.
 */
export interface Runtime {
  config: AppConfig;
  db: Db;
  bus: EventBus;
  market: MarketSimulator;
  activity: ActivityLog;
  /** The embedded authorization server; only with AUTH_PROVIDER=embedded. */
  idp?: EmbeddedIdp;
  /** The agent loop; absent with AGENT_ENABLED=false or when it could not start. */
  agent?: Agent;
  startedAt: string;
  /** Stops background work and closes the store. Safe to call twice. */
  stop(): Promise<void>;
}

const KEY = Symbol.for("sleeping-guardian.runtime");
type Registry = { [KEY]?: Promise<Runtime> };

/** The running runtime, started on first call. */
export function getRuntime(): Promise<Runtime> {
  const registry = globalThis as Registry;
  registry[KEY] ??= startRuntime(getConfig()).catch((error) => {
    delete registry[KEY];
    throw error;
  });
  return registry[KEY];
}

/** Starts a runtime; the app goes through getRuntime(). */
async function startRuntime(config: AppConfig): Promise<Runtime> {
  const db = await openStore(config);
  await migrate(db);
  const bus = new EventBus();
  const activity = new ActivityLog(db, bus);
  const market = new MarketSimulator(db, bus, config.market.symbol, config.market.initialPriceCents);
  await market.load();
  await ensurePortfolio(db, config.investor.userId, config.investor.name, config.investor.initialBalanceCents);
  market.start(config.market.tickMs);

  // --- Embedded authorization server: oidc-provider on a loopback port behind /oidc.
  // Loaded only in embedded mode, so WSO2 / Auth0 deployments never load oidc-provider.
  let idp: EmbeddedIdp | undefined;
  if (config.auth.provider === "embedded") {
    try {
      const { startEmbeddedIdp } = await import("./idp");
      idp = await startEmbeddedIdp({
        config,
        db,
        onMail: (id) => bus.publish("mail", { id }),
        onDecision: (authReqId) => bus.publish("ciba-decided", { authReqId }),
      });
    } catch (error) {
      market.stop();
      await db.close();
      throw error;
    }
  }
  // --- end embedded authorization server

  // --- Agent loop: after the identity server that issues its tokens. It reaches /oidc
  // and /mcp over HTTP like any client, retrying until this server listens. A failure to start
  // leaves the dashboard running without an agent rather than taking the app down.
  let agent: Agent | undefined;
  if (config.agent.enabled) {
    try {
      const { startAgent } = await import("./agent");
      const clientSecret = config.auth.agentClientSecret ?? idp?.agentClientSecret ?? "";
      agent = await startAgent({ config, db, bus, activity, clientSecret, priceStream: true, tickMs: config.agent.pricePollMs });
    } catch (error) {
      console.error("[runtime] the agent could not start:", error instanceof Error ? error.message : error);
    }
  }
  // --- end agent loop

  let stopped = false;
  const runtime: Runtime = {
    config,
    db,
    bus,
    market,
    activity,
    idp,
    agent,
    startedAt: new Date().toISOString(),
    async stop() {
      if (stopped) return;
      stopped = true;
      market.stop();
      await agent?.stop();
      await idp?.stop();
      await db.close();
    },
  };
  console.log(
    `[runtime] started: ${config.market.symbol} at ${formatMoney(market.snapshot().priceCents)} USD, ` +
      `store ${db.engine}, auth ${config.auth.provider}, public URL ${config.publicUrl}`,
  );
  return runtime;
}

async function openStore(config: AppConfig): Promise<Db> {
  if (!config.store.databaseUrl) {
    announceDevDefault(
      "pglite",
      `Embedded PostgreSQL (PGlite) at ${path.resolve(config.store.dataDir)}: set DATABASE_URL for a PostgreSQL server.`,
    );
  }
  return openDb({ databaseUrl: config.store.databaseUrl, dataDir: config.store.dataDir, migrations: readMigrations() });
}

/** Stops the runtime on SIGTERM/SIGINT, once. */
export function installShutdownHandlers(): void {
  const registry = globalThis as Registry & { [k: symbol]: unknown };
  const flag = Symbol.for("sleeping-guardian.shutdown");
  if (registry[flag]) return;
  registry[flag] = true;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      const running = registry[KEY];
      console.log(`[runtime] ${signal}: stopping`);
      void (running ? running.then((rt) => rt.stop()) : Promise.resolve())
        .catch((e) => console.error("[runtime] stop failed:", e))
        .finally(() => process.exit(0));
    });
  }
}
