import { parseConfig, type AppConfig } from "@/lib/config";
import { saveClient } from "@/lib/idp/client-revocation";
import { agentClient } from "@/lib/idp/clients";
import { ActivityLog } from "@/lib/events/activity";
import { EventBus } from "@/lib/events/bus";
import { startEmbeddedIdp, type EmbeddedIdp } from "@/lib/idp";
import { ensurePortfolio } from "@/lib/ledger/portfolio";
import { MarketSimulator } from "@/lib/market/simulator";
import type { FetchLike } from "@/lib/net/fetch";
import type { Db } from "@/lib/store/db";
import type { MarketSnapshot } from "@/lib/types";
import { createMcpEndpoint, type McpEndpoint } from "@/mcp/endpoint";
import { Alice } from "../../helpers/agent-alice";
import { onFreePort } from "../../helpers/app-server";
import { inProcessFetch } from "../../helpers/mcp-in-process";
import { emptyTables, openTestDb } from "../../helpers/store";
import { VirtualClock } from "./random";

/**
 * Everything of the app except the agent, built once per test file from the real parts: the
 * store (PGlite in memory), the embedded identity server (oidc-provider on a loopback port, the
 * issuer the broker trusts), the MCP endpoint served in-process, a market whose price the
 * schedule sets, and Alice with a cookie jar for the approval page. Between schedules the tables
 * are emptied; the identity server's keys and its in-memory state survive, as across a restart
 * of the agent alone.
 */
const PASSWORD = "fault-schedule-password-1";
const AGENT_SECRET = "fault-schedule-agent-secret-0123456789";

/** Tables whose rows outlive a schedule: the identity server's secrets and the schema itself. */
const KEPT_TABLES = new Set(["idp_secrets", "schema_migrations", "market_state"]);

export class ScriptedMarket extends MarketSimulator {
  private priceCents: number;

  constructor(
    private readonly store: Db,
    bus: EventBus,
    symbol: string,
    initialPriceCents: number,
  ) {
    super(store, bus, symbol, initialPriceCents);
    this.priceCents = initialPriceCents;
  }

  override snapshot(): MarketSnapshot {
    return { ...super.snapshot(), priceCents: this.priceCents };
  }

  /** The price from now on, recorded in market_ticks in the store's own time (invariants read it). */
  async setPrice(cents: number): Promise<void> {
    this.priceCents = cents;
    await this.store.query("INSERT INTO market_ticks (symbol, at, price_cents, status) VALUES ($1, now(), $2, 'STABLE')", [this.symbol, cents]);
  }

  get price(): number {
    return this.priceCents;
  }
}

/** Counts requests the test sent or let through, so no server work spills into the next schedule. */
export class Inflight {
  private count = 0;

  track<T>(work: Promise<T>): Promise<T> {
    this.count += 1;
    return work.finally(() => {
      this.count -= 1;
    });
  }

  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    return this.count === 0;
  }
}

/** Dead rows of emptied tables are reclaimed every so many schedules. */
const VACUUM_EVERY = 50;

export class World {
  private resets = 0;
  readonly inflight = new Inflight();
  readonly clock = new VirtualClock();
  readonly alice: Alice;
  /** The broker, reached in-process as the app's /mcp route reaches it. */
  readonly mcpFetch: FetchLike;
  /** Real HTTP to the identity server. */
  readonly httpFetch: FetchLike;

  private constructor(
    readonly config: AppConfig,
    readonly db: Db,
    readonly idp: EmbeddedIdp,
    readonly bus: EventBus,
    readonly market: ScriptedMarket,
    readonly endpoint: McpEndpoint,
  ) {
    this.alice = new Alice(config.publicUrl, config.investor.email, PASSWORD);
    const serve = inProcessFetch(endpoint);
    this.mcpFetch = (input, init) => this.inflight.track(serve(input, init));
    this.httpFetch = (input, init) => this.inflight.track(fetch(input, init));
  }

  static async start(): Promise<World> {
    const db = await openTestDb();
    const bus = new EventBus();
    const { config, idp } = await onFreePort(async (port) => {
      const config = parseConfig({
        NODE_ENV: "test",
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        EMBEDDED_IDP_PORT: String(port),
        DATA_DIR: "memory://",
        AGENT_CLIENT_SECRET: AGENT_SECRET,
        INVESTOR_PASSWORD: PASSWORD,
        INITIAL_PRICE: "150.00",
        PRICE_THRESHOLD: "140.00",
        TRADE_AMOUNT: "5000.00",
        // Room for several trades: a double execution must show in the ledger, not as a refusal.
        INITIAL_BALANCE: "100000.00",
        AGENT_COOLDOWN_SECONDS: "5",
        // Alice has two minutes of the agent's time: with the clock skipping to each poll and the
        // server answering slow_down to polls that come too fast, about six polls.
        AGENT_APPROVAL_EXPIRY_SECONDS: "120",
        CIBA_MAX_EXPIRY_SECONDS: "120",
        CIBA_INTERVAL_SECONDS: "1",
        MAX_PENDING_APPROVALS: "50",
      });
      return { config, idp: await startEmbeddedIdp({ config, db }) };
    });
    const market = new ScriptedMarket(db, bus, config.market.symbol, config.market.initialPriceCents);
    await market.load();
    const activity = new ActivityLog(db, bus);
    const endpoint = createMcpEndpoint({ config, db, market, activity, bus });
    const world = new World(config, db, idp, bus, market, endpoint);
    await world.reset();
    return world;
  }

  /** A fresh ledger and flow for the next schedule: every row deleted except in the kept tables. */
  async reset(): Promise<void> {
    await emptyTables(this.db, KEPT_TABLES);
    if (++this.resets % VACUUM_EVERY === 0) await this.db.exec("VACUUM");
    // The agent's client lives in the embedded server's store (its secret can be rotated): put it back.
    await saveClient(this.db, agentClient(this.config, this.idp.agentClientSecret));
    const { investor } = this.config;
    await ensurePortfolio(this.db, investor.userId, investor.name, investor.initialBalanceCents);
    await this.market.setPrice(this.config.market.initialPriceCents);
    this.clock.reset();
  }

  get agentSecret(): string {
    return this.idp.agentClientSecret;
  }

  async stop(): Promise<void> {
    await this.endpoint.close();
    await this.idp.stop();
    await this.db.close();
  }
}
