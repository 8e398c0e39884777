import "server-only";
import type { Db, Queryable } from "../store/db";
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
 *
 * The stored state is the market: each tick and each demo action reads market_state under a row
 * lock, moves it on and writes it back with its tick, in one transaction. So with several
 * instances on one PostgreSQL, the one that runs the ticker (start(), under the market lease)
 * and any instance that presses crash or stabilize change one series, and a new ticker continues
 * from the last stored tick. Instances that do not tick follow the ticker's events (`follow`).
 */
export class MarketSimulator {
  private state!: ModelState;
  private ticks: MarketTick[] = [];
  private lastAt = new Date(0).toISOString();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private ticksSincePrune = 0;
  /** The last tick was skipped to let another instance's change arrive first (change()). */
  private heldBack = false;
  /** Checked inside each tick's transaction: false once this instance no longer leads. */
  private leading: (tx: Queryable) => Promise<boolean> = async () => true;

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

  /**
   * Ticks every `tickMs`. `leading`, when given, is checked in each tick's transaction: a ticker
   * that lost its lease without noticing yet writes nothing.
   */
  start(tickMs: number, leading?: (tx: Queryable) => Promise<boolean>): void {
    if (leading) this.leading = leading;
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
      return await this.change(now, (state) => nextState(state, this.random), this.leading, true);
    } finally {
      this.ticking = false;
    }
  }

  async crash(): Promise<MarketSnapshot> {
    return (await this.change(new Date(), (state) => ({ ...state, status: "CRASHING" })))!;
  }

  async stabilize(): Promise<MarketSnapshot> {
    return (await this.change(new Date(), (state) => ({ ...state, status: "STABLE", anchorCents: state.priceCents })))!;
  }

  /** Back to the configured initial price; the chart history is cleared. */
  async reset(): Promise<MarketSnapshot> {
    const now = new Date();
    const tick = await this.db.transaction(async (tx) => {
      await tx.query("SELECT symbol FROM market_state WHERE symbol = $1 FOR UPDATE", [this.symbol]);
      await tx.query("DELETE FROM market_ticks WHERE symbol = $1", [this.symbol]);
      return this.write(tx, this.initialState(), now);
    });
    this.ticks = [];
    this.bus.publish("market-reset", { symbol: this.symbol });
    return this.publish(tick);
  }

  /** A tick of the instance that leads (another instance's event): this one shows it too. */
  follow(snapshot: MarketSnapshot): void {
    // A change made on another instance may arrive after a later tick this one already shows,
    // and a tick taken by catchUp() arrives once more as its event.
    if (snapshot.symbol !== this.symbol || snapshot.at < this.lastAt) return;
    const last = this.ticks.at(-1);
    if (last && last.at === snapshot.at && last.priceCents === snapshot.priceCents && last.status === snapshot.status) return;
    const anchorCents = snapshot.status === this.state.status ? this.state.anchorCents : snapshot.priceCents;
    this.state = { status: snapshot.status, priceCents: snapshot.priceCents, openCents: snapshot.openCents, anchorCents };
    this.remember({ at: snapshot.at, priceCents: snapshot.priceCents, status: snapshot.status });
  }

  /**
   * The market was reset on another instance. Its reset tick comes next and is taken even if a
   * tick from before the reset (read and stamped before it, committed first) showed a later time.
   */
  followReset(): void {
    this.ticks = [];
    this.lastAt = new Date(0).toISOString();
  }

  /**
   * The last stored tick, taken as the price now: for an instance that must see a change another
   * instance committed before its event is delivered here. The store is the market; a tick of this
   * instance in flight writes the stored state itself, so it is left to do so.
   */
  async catchUp(): Promise<MarketSnapshot> {
    if (this.ticking) return this.snapshot();
    const [row] = await this.db.query<{ at: Date | string; price_cents: number; status: MarketStatus; open_cents: number }>(
      `SELECT t.at, t.price_cents, t.status, s.open_cents FROM market_ticks t JOIN market_state s USING (symbol)
        WHERE t.symbol = $1 ORDER BY t.id DESC LIMIT 1`,
      [this.symbol],
    );
    if (row) {
      const tick: MarketTick = { at: toIso(row.at), priceCents: row.price_cents, status: row.status };
      const anchorCents = tick.status === this.state.status ? this.state.anchorCents : tick.priceCents;
      this.state = { status: tick.status, priceCents: tick.priceCents, openCents: row.open_cents, anchorCents };
      const last = this.ticks.at(-1);
      if (last?.at === tick.at && last.priceCents === tick.priceCents) this.lastAt = tick.at;
      else this.remember(tick);
    }
    return this.snapshot();
  }

  /**
   * One change of the stored state: read under a row lock, moved on by `step`, written with its
   * tick, in one transaction; then kept here and published. Undefined when `allowed` refused.
   *
   * `afterOthers` (the ticker's ticks): when the stored state is not what this instance shows,
   * another instance changed it (a crash pressed there) and its event is still on its way here.
   * The tick is skipped once, so that every instance's stream shows that change before the tick
   * that follows it; a second time the tick goes on from the stored state (the event was lost).
   */
  private async change(now: Date, step: (state: ModelState) => ModelState, allowed?: (tx: Queryable) => Promise<boolean>, afterOthers = false): Promise<MarketSnapshot | undefined> {
    const tick = await this.db.transaction(async (tx) => {
      if (allowed && !(await allowed(tx))) return undefined;
      const stored = await readState(tx, this.symbol);
      const unseen = stored !== undefined && (stored.status !== this.state.status || stored.priceCents !== this.state.priceCents);
      if (afterOthers && unseen && !this.heldBack) {
        this.heldBack = true;
        return undefined;
      }
      this.heldBack = false;
      return this.write(tx, step(stored ?? this.state), now);
    });
    return tick && this.publish(tick);
  }

  private async write(tx: Queryable, state: ModelState, now: Date): Promise<MarketTick> {
    await saveState(tx, this.symbol, state);
    const tick: MarketTick = { at: now.toISOString(), priceCents: state.priceCents, status: state.status };
    await tx.query("INSERT INTO market_ticks (symbol, at, price_cents, status) VALUES ($1, $2, $3, $4)", [this.symbol, tick.at, tick.priceCents, tick.status]);
    this.state = state;
    return tick;
  }

  private remember(tick: MarketTick): void {
    this.lastAt = tick.at;
    this.ticks.push(tick);
    if (this.ticks.length > HISTORY_LIMIT) this.ticks.splice(0, this.ticks.length - HISTORY_LIMIT);
  }

  private async publish(tick: MarketTick): Promise<MarketSnapshot> {
    this.remember(tick);
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
    await saveState(this.db, this.symbol, this.state);
  }

  private async record(now: Date): Promise<MarketSnapshot> {
    return this.publish(await this.db.transaction((tx) => this.write(tx, this.state, now)));
  }
}

async function readState(tx: Queryable, symbol: string): Promise<ModelState | undefined> {
  const [row] = await tx.query<StateRow>("SELECT status, price_cents, open_cents, anchor_cents FROM market_state WHERE symbol = $1 FOR UPDATE", [symbol]);
  return row && { status: row.status, priceCents: row.price_cents, openCents: row.open_cents, anchorCents: row.anchor_cents };
}

async function saveState(db: Queryable, symbol: string, s: ModelState): Promise<void> {
  await db.query(
    `INSERT INTO market_state (symbol, status, price_cents, open_cents, anchor_cents, updated_at)
     VALUES ($1, $2, $3, $4, $5, now())
     ON CONFLICT (symbol) DO UPDATE SET status = $2, price_cents = $3, open_cents = $4, anchor_cents = $5, updated_at = now()`,
    [symbol, s.status, s.priceCents, s.openCents, s.anchorCents],
  );
}
