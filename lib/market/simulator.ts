import "server-only";
import type { Db } from "../store/db";
import type { EventBus } from "../events/bus";
import { toIso } from "../time";
import { HISTORY_LIMIT, type MarketSnapshot, type MarketStatus, type MarketTick } from "../types";
import { nextState, type ModelState } from "./model";

interface StateRow {
  status: MarketStatus;
  price_cents: number;
  open_cents: number;
  anchor_cents: number;
}

/**
 * Prices as of one snapshot, for valuing a portfolio: the snapshot's symbol at its price, any
 * other symbol unknown. Bound to the snapshot, so a tick during the valuation does not mix prices.
 */
export function pricesAt(snapshot: Pick<MarketSnapshot, "symbol" | "priceCents">): (symbol: string) => number | undefined {
  return (symbol) => (symbol === snapshot.symbol ? snapshot.priceCents : undefined);
}

/**
 * The simulated market for one symbol: one price per tick, persisted so that a restart resumes
 * at the same price and the chart keeps its history. The price a trade executes at is
 * `snapshot().priceCents` at execution time.
 */
export class MarketSimulator {
  private state!: ModelState;
  private ticks: MarketTick[] = [];
  private lastAt = new Date(0).toISOString();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private ticksSincePrune = 0;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    readonly symbol: string,
    private readonly initialPriceCents: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Loads the persisted state, or creates it at the configured initial price. */
  async load(): Promise<void> {
    const rows = await this.db.query<StateRow>(
      "SELECT status, price_cents, open_cents, anchor_cents FROM market_state WHERE symbol = $1",
      [this.symbol],
    );
    if (rows[0]) {
      this.state = {
        status: rows[0].status,
        priceCents: rows[0].price_cents,
        openCents: rows[0].open_cents,
        anchorCents: rows[0].anchor_cents,
      };
    } else {
      this.state = this.initialState();
      await this.saveState();
    }
    const history = await this.db.query<{ at: Date | string; price_cents: number; status: MarketStatus }>(
      "SELECT at, price_cents, status FROM market_ticks WHERE symbol = $1 ORDER BY id DESC LIMIT $2",
      [this.symbol, HISTORY_LIMIT],
    );
    this.ticks = history.reverse().map((r) => ({ at: toIso(r.at), priceCents: r.price_cents, status: r.status }));
    this.lastAt = this.ticks.at(-1)?.at ?? new Date().toISOString();
    // A fresh market starts its chart with the opening price.
    if (this.ticks.length === 0) await this.record(new Date());
  }

  start(tickMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick().catch((e) => console.error("[market] tick failed:", e)), tickMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  snapshot(): MarketSnapshot {
    const { priceCents, openCents, status } = this.state;
    const changeCents = priceCents - openCents;
    return {
      symbol: this.symbol,
      at: this.lastAt,
      priceCents,
      status,
      openCents,
      changeCents,
      changePercent: Math.round((changeCents / openCents) * 10000) / 100,
    };
  }

  history(): MarketTick[] {
    return [...this.ticks];
  }

  /** Advances one tick: next price, persisted, published. Overlapping calls are skipped. */
  async tick(now = new Date()): Promise<MarketSnapshot | undefined> {
    if (this.ticking) return undefined;
    this.ticking = true;
    try {
      this.state = nextState(this.state, this.random);
      return await this.record(now);
    } finally {
      this.ticking = false;
    }
  }

  async crash(): Promise<MarketSnapshot> {
    return this.transition({ ...this.state, status: "CRASHING" });
  }

  async stabilize(): Promise<MarketSnapshot> {
    return this.transition({ ...this.state, status: "STABLE", anchorCents: this.state.priceCents });
  }

  /** Back to the configured initial price; the chart history is cleared. */
  async reset(): Promise<MarketSnapshot> {
    this.state = this.initialState();
    this.ticks = [];
    await this.db.query("DELETE FROM market_ticks WHERE symbol = $1", [this.symbol]);
    return this.record(new Date());
  }

  private async transition(next: ModelState): Promise<MarketSnapshot> {
    this.state = next;
    return this.record(new Date());
  }

  private async record(now: Date): Promise<MarketSnapshot> {
    const tick: MarketTick = { at: now.toISOString(), priceCents: this.state.priceCents, status: this.state.status };
    this.lastAt = tick.at;
    this.ticks.push(tick);
    if (this.ticks.length > HISTORY_LIMIT) this.ticks.splice(0, this.ticks.length - HISTORY_LIMIT);
    await this.saveState();
    await this.db.query("INSERT INTO market_ticks (symbol, at, price_cents, status) VALUES ($1, $2, $3, $4)", [
      this.symbol,
      tick.at,
      tick.priceCents,
      tick.status,
    ]);
    if (++this.ticksSincePrune >= 60) {
      this.ticksSincePrune = 0;
      await this.db.query(
        `DELETE FROM market_ticks WHERE symbol = $1 AND id <
           (SELECT COALESCE(MIN(id), 0) FROM (SELECT id FROM market_ticks WHERE symbol = $1 ORDER BY id DESC LIMIT $2) AS kept)`,
        [this.symbol, HISTORY_LIMIT],
      );
    }
    const snapshot = this.snapshot();
    this.bus.publish("tick", snapshot);
    return snapshot;
  }

  private initialState(): ModelState {
    const p = this.initialPriceCents;
    return { status: "STABLE", priceCents: p, openCents: p, anchorCents: p };
  }

  private async saveState(): Promise<void> {
    const s = this.state;
    await this.db.query(
      `INSERT INTO market_state (symbol, status, price_cents, open_cents, anchor_cents, updated_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (symbol) DO UPDATE SET status = $2, price_cents = $3, open_cents = $4, anchor_cents = $5, updated_at = now()`,
      [this.symbol, s.status, s.priceCents, s.openCents, s.anchorCents],
    );
  }
}
