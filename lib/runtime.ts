import "server-only";
import os from "node:os";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { configFor, getConfig, type AppConfig, type InvestorConfig } from "./config";
import { announceDevDefault } from "./dev-defaults";
import { ActivityLog } from "./events/activity";
import { EventBus, type AgentCommand } from "./events/bus";
import { startEventRelay, type EventRelay } from "./events/relay";
import type { Agent } from "./agent";
import type { EmbeddedIdp } from "./idp";
import { ensurePortfolio } from "./ledger/portfolio";
import { MarketSimulator } from "./market/simulator";
import { formatMoney } from "./money";
import { openDb, type Db } from "./store/db";
import { agentLease, localLeases, marketLease, postgresLeases, runExclusively, type Leases } from "./store/leases";
import { migrate, readMigrations } from "./store/migrate";
import { createAppFetch } from "./auth/app-fetch";
import { withCaFile } from "./net/ca-fetch";
import { createSignIn, type SignIn } from "./session/sign-in";
import { sweepSessions } from "./session/store";

/**
 * The background runtime: the store, the event bus, the market ticker, the embedded identity
 * server and the agent loop. Route handlers and instrumentation.ts get
 * different module instances in Next.js, so the one running instance lives on globalThis and is
 * started at most once per process, whoever asks first.
 *
 * Several instances may share one PostgreSQL (DATABASE_URL). Then the market ticker and the
 * agent each run where their lease is held (lib/store/leases.ts: PostgreSQL advisory locks), and
 * events reach every instance through LISTEN/NOTIFY (lib/events/relay.ts). Every instance serves
 * the dashboard, the API, /mcp and /oidc from the shared store. With PGlite the one process holds
 * every lease.
 *
 * Several investors (INVESTORS) share the market; each has her own agent (one lease each: on
 * PostgreSQL it runs on one instance, and moves to another when that one dies) and sees only her
 * own data: routes reach it through `scopeOf`, built from the signed-in investor, never from what
 * the browser sends.
 */
export interface Runtime {
  config: AppConfig;
  db: Db;
  bus: EventBus;
  market: MarketSimulator;
  activity: ActivityLog;
  /** The embedded authorization server; only with AUTH_PROVIDER=embedded. */
  idp?: EmbeddedIdp;
  /**
   * The first investor's agent loop, when this instance runs it (holds its lease); absent with
   * AGENT_ENABLED=false, when it could not start, or while another instance runs it.
   */
  readonly agent?: Agent;
  /** Every agent loop this instance runs, by its investor's `sub`. */
  agents: Map<string, Agent>;
  /** One investor's side of the app: her config view, her activity log, her agent if it runs here. */
  scopeOf(investor: InvestorConfig): InvestorScope;
  /** The investors' sign-in to the dashboard and their sessions (lib/session). */
  signIn: SignIn;
  /**
   * Stops the agent loops this instance runs and starts new ones with `clientSecret` (the kill
   * switch's re-enable): a new Agent has a new DPoP key and no token yet. The first investor's.
   */
  restartAgent(clientSecret: string): Promise<Agent | undefined>;
  /** Which jobs this instance runs: the market ticker, the agent. */
  leases: Leases;
  startedAt: string;
  /** Stops background work and closes the store. Safe to call twice. */
  stop(): Promise<void>;
}

/** What one investor's routes work with: every field is hers or shared (the store, the bus). */
export interface InvestorScope {
  /** The configuration seen from her side: `config.investor` is she. */
  config: AppConfig;
  db: Db;
  bus: EventBus;
  /** Her activity log: writes carry her `sub`, reads return hers and the public market's. */
  activity: ActivityLog;
  /** Her agent, when this instance runs it. */
  readonly agent?: Agent;
  leases: Leases;
  idp?: EmbeddedIdp;
}

const KEY = Symbol.for("sleeping-guardian.runtime");
/** How often an instance on PostgreSQL looks for stored controls of its agents without being woken. */
const COMMAND_LOOK_MS = 2000;
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
  const databaseUrl = config.store.databaseUrl;
  // Instances starting together on one PostgreSQL migrate one after the other.
  if (databaseUrl) await runExclusively(databaseUrl, "sleeping-guardian:migrate", () => migrate(db));
  else await migrate(db);
  const instanceId = config.instance.id ?? `${os.hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
  const bus = new EventBus();
  const activity = new ActivityLog(db, bus);
  const market = new MarketSimulator(db, bus, config.market.symbol, config.market.initialPriceCents);
  await market.load();
  for (const investor of config.investors) await ensurePortfolio(db, investor.userId, investor.name, investor.initialBalanceCents);
  let relay: EventRelay | undefined;
  if (databaseUrl) {
    relay = await startEventRelay({ url: databaseUrl, instanceId, bus, readActivity: (id) => activity.get(id) });
    // Another instance ticks: this one shows its prices (trades here execute at them).
    bus.subscribeRemote("tick", (snapshot) => market.follow(snapshot));
    bus.subscribeRemote("market-reset", () => market.followReset());
  }
  const leases = databaseUrl ? postgresLeases({ url: databaseUrl, instanceId, checkMs: config.instance.leaseCheckMs }) : localLeases(instanceId);

  // --- Embedded authorization server: oidc-provider on a loopback port behind /oidc.
  // Loaded only in embedded mode, so WSO2 / Auth0 deployments never load oidc-provider.
  let idp: EmbeddedIdp | undefined;
  if (config.auth.provider === "embedded") {
    try {
      const { startEmbeddedIdp } = await import("./idp");
      idp = await startEmbeddedIdp({
        config,
        db,
        onMail: (id, to) => bus.publish("mail", { id, userSub: config.investors.find((i) => i.email.toLowerCase() === to.toLowerCase())?.userId }),
        onDecision: (authReqId) => bus.publish("ciba-decided", { authReqId }),
      });
    } catch (error) {
      await leases.stop();
      await relay?.stop();
      await db.close();
      throw error;
    }
  }
  // --- end embedded authorization server

  // Starts the agent loop (where this instance holds the agent's lease, below). A failure to start
  // leaves the dashboard running without an agent rather than taking the app down.
  const launchAgent = async (investor: InvestorConfig, clientSecret: string): Promise<Agent | undefined> => {
    try {
      const { startAgent } = await import("./agent");
      // The agent follows the price over its MCP subscription; the timer is only the fallback.
      const { withdrawMandateGrant } = await import("./delegation");
      return await startAgent({
        config: configFor(config, investor),
        db,
        bus,
        activity: activity.forInvestor(investor.userId),
        clientSecret,
        priceStream: true,
        tickMs: config.agent.pricePollMs,
        onMandateLost: (mandateId) => withdrawMandateGrant({ db, idp }, mandateId, `${config.agent.name} let the standing mandate go`),
      });
    } catch (error) {
      console.error("[runtime] the agent could not start:", error instanceof Error ? error.message : error);
      return undefined;
    }
  };
  const signIn = createSignIn({
    config,
    db,
    issuer: idp?.issuer ?? config.auth.issuerDiscovery ?? config.auth.issuer,
    clientSecret: config.signIn.clientSecret ?? idp?.dashboardClientSecret,
    fetch: withCaFile(createAppFetch(config.publicUrl, config.agent.internalUrl), config.auth.caFile),
  });
  if (!signIn.available) {
    console.warn(
      `[runtime] sign-in is off: no DASHBOARD_CLIENT_SECRET for ${config.auth.provider}. The dashboard shows only the public market; ` +
        `see docs/${config.auth.provider}.md to register the dashboard (callback ${config.signIn.redirectUri}).`,
    );
  }
  const sweep = setInterval(() => {
    sweepSessions(db).catch((error) => console.warn("[runtime] session sweep failed:", (error as Error).message));
  }, 10 * 60_000);
  sweep.unref();

  const agents = new Map<string, Agent>();
  /** The agent client's secret as the store holds it (the kill switch may have rotated it). */
  const currentAgentSecret = async (): Promise<string> => (idp ? await idp.readAgentClientSecret() : (config.auth.agentClientSecret ?? ""));
  /** Restarts one investor's agent with `clientSecret`, where this instance holds its lease. */
  const restartOne = async (investor: InvestorConfig, clientSecret: string): Promise<Agent | undefined> => {
    // Only the instance that holds an agent's lease runs it; the others have nothing to restart.
    if (!leases.holds(agentLease(investor.userId, config.agent.id))) return undefined;
    await agents.get(investor.userId)?.stop();
    agents.delete(investor.userId);
    const agent = stopped ? undefined : await launchAgent(investor, clientSecret);
    if (agent) agents.set(investor.userId, agent);
    return agent;
  };
  const scopes = new Map<string, InvestorScope>();
  let stopped = false;
  let commandTimer: NodeJS.Timeout | undefined;
  const runtime: Runtime = {
    config,
    db,
    bus,
    market,
    activity,
    idp,
    signIn,
    leases,
    agents,
    get agent() {
      return agents.get(config.investor.userId);
    },
    scopeOf(investor) {
      let scope = scopes.get(investor.userId);
      if (!scope) {
        const view = configFor(config, investor);
        const log = activity.forInvestor(investor.userId);
        scope = {
          config: view,
          db,
          bus,
          activity: log,
          leases,
          idp,
          get agent() {
            return agents.get(investor.userId);
          },
        };
        scopes.set(investor.userId, scope);
      }
      return scope;
    },
    startedAt: new Date().toISOString(),
    async restartAgent(clientSecret) {
      for (const investor of config.investors) await restartOne(investor, clientSecret);
      return runtime.agent;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweep);
      clearInterval(commandTimer);
      // Giving the leases back stops the ticker and the agent here and lets another instance take them.
      await leases.stop();
      await idp?.stop();
      await relay?.stop();
      await db.close();
    },
  };

  // --- Market ticker: on the one instance that holds the market's lease; a new holder
  // continues from the last stored tick.
  const marketName = marketLease(config.market.symbol);
  await leases.want(marketName, {
    onGained: async () => {
      await market.load();
      market.start(config.market.tickMs, (tx) => leases.stillHeld(tx, marketName));
    },
    onLost: () => market.stop(),
  });

  // Controls nobody took in time (no instance ran their agent, or none runs agents at all).
  await (await import("./store/agent-commands")).pruneAgentCommands(db);

  // --- Agent loop: after the identity server that issues its tokens, on the one instance that
  // holds the agent's lease. It reaches /oidc and /mcp over HTTP like any client, retrying until
  // this server listens. A new holder resumes from the store (recovery.ts). A failure to start
  // leaves the dashboard running without an agent rather than taking the app down.
  if (config.agent.enabled) {
    const { agentKey } = await import("./agent/settings");
    const { agentsWithCommands, dropStaleAgentCommands, pruneAgentCommands, takeNextAgentCommand } = await import("./store/agent-commands");
    const keyOf = (investor: InvestorConfig) => agentKey(configFor(config, investor));
    const byKey = new Map(config.investors.map((i) => [keyOf(i), i]));
    for (const investor of startingAt(config.investors, instanceId)) {
      await leases.want(agentLease(investor.userId, config.agent.id), {
        onGained: async () => {
          // The new agent reads its settings from the store, which already holds most controls
          // stored so far (lib/store/agent-commands.ts); applied after its start, a re-enable would stop its work.
          await dropStaleAgentCommands(db, keyOf(investor));
          // The embedded server's secret first: the kill switch may have rotated AGENT_CLIENT_SECRET away.
          const agent = await launchAgent(investor, await currentAgentSecret());
          if (!agent) throw new Error("the agent could not start");
          agents.set(investor.userId, agent);
        },
        onLost: async () => {
          const agent = agents.get(investor.userId);
          agents.delete(investor.userId);
          await agent?.stop();
        },
      });
    }
    // Controls taken on another instance reach the one that runs that investor's agent.
    const follow = async (investor: InvestorConfig, command: AgentCommand, mandateId?: string): Promise<void> => {
      if (command === "reenable") {
        // Re-enabled on another instance: a new agent here, with the client's secret as the store now holds it.
        if (await restartOne(investor, await currentAgentSecret())) bus.publish("agent", { reason: "reenabled", userSub: investor.userId });
        return;
      }
      // A demo reset reset the market first: this instance may not have its tick yet.
      const marketAt = command === "reset" ? (await market.catchUp()).at : undefined;
      const agent = agents.get(investor.userId);
      if (command === "grant-mandate") {
        const { askForRecordedMandate } = await import("./delegation");
        if (agent && mandateId) await askForRecordedMandate(runtime.scopeOf(investor), agent, mandateId);
        return;
      }
      await agent?.follow(command, mandateId, marketAt);
    };
    // Each agent's stored controls, taken one at a time in the order they were stored (a pause
    // and the resume after it end resumed) and applied before the next is taken, in a lane of its
    // own (a slow control holds up no other investor's). A row is taken only in a transaction that
    // finds this instance still holding the agent's lease, so an instance that lost it without
    // noticing yet takes nothing. The NOTIFY of another instance asks for a look at once; the
    // timer looks anyway, so a control stored while a relay connection was down still arrives.
    const lanes = new Map<string, Promise<void>>();
    const takeFor = (investor: InvestorConfig): Promise<void> => {
      const key = keyOf(investor);
      const lease = agentLease(investor.userId, config.agent.id);
      const lane = (lanes.get(key) ?? Promise.resolve())
        .then(async () => {
          while (!stopped && agents.has(investor.userId)) {
            const row = await db.transaction(async (tx) => ((await leases.stillHeld(tx, lease)) ? takeNextAgentCommand(tx, key) : undefined));
            if (!row) return;
            await follow(investor, row.command, row.mandateId).catch((e: unknown) => console.error(`[runtime] agent control ${row.command} failed:`, e instanceof Error ? e.message : e));
          }
        })
        .catch((e: unknown) => console.warn("[runtime] reading the stored agent controls failed:", e instanceof Error ? e.message : e));
      lanes.set(key, lane);
      return lane;
    };
    // Pruned at start (above), then once a minute.
    let lastPrune = Date.now();
    const look = async () => {
      if (stopped) return;
      if (Date.now() - lastPrune > 60_000) {
        lastPrune = Date.now();
        await pruneAgentCommands(db);
      }
      const mine = config.investors.filter((i) => agents.has(i.userId)).map(keyOf);
      for (const key of await agentsWithCommands(db, mine)) void takeFor(byKey.get(key)!);
    };
    bus.subscribeRemote("agent-control", ({ agentId }) => {
      const investor = byKey.get(agentId);
      if (investor && agents.has(investor.userId)) void takeFor(investor);
    });
    if (config.store.databaseUrl) {
      commandTimer = setInterval(() => void look().catch((e: unknown) => console.warn("[runtime] looking for stored agent controls failed:", e instanceof Error ? e.message : e)), COMMAND_LOOK_MS);
      commandTimer.unref();
    }
  }
  // --- end agent loop


  // A revocation the last run did not finish (stopped or killed half-way) is finished first.
  const { finishInterruptedRevocation } = await import("./kill-switch");
  await finishInterruptedRevocation(runtime).catch((error: unknown) =>
    console.error("[runtime] finishing the interrupted revocation failed:", error instanceof Error ? error.message : error),
  );

  console.log(
    `[runtime] started: ${config.market.symbol} at ${formatMoney(market.snapshot().priceCents)} USD, ` +
      `store ${db.engine}, auth ${config.auth.provider}, public URL ${config.publicUrl}, instance ${instanceId}`,
  );
  return runtime;
}

/**
 * The investors in an order of this instance's own: the list rotated to start at a place its id
 * picks. Instances starting together then ask for different agents' leases first and share the
 * agents out, rather than the quickest one taking them all.
 */
function startingAt<T>(list: readonly T[], instanceId: string): T[] {
  if (list.length < 2) return [...list];
  const offset = createHash("sha256").update(instanceId).digest().readUInt32BE(0) % list.length;
  return [...list.slice(offset), ...list.slice(0, offset)];
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

/**
 * Stops the runtime on SIGTERM/SIGINT, once, when nothing else does. `scripts/serve.mjs` (npm run
 * dev / npm start) sets the flag first and stops the runtime itself after the requests under way.
 */
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
