import "server-only";
import type { Db, Queryable } from "../store/db";
import { toIso } from "../time";
import type { EventBus } from "./bus";
import { ACTIVITY_LIMIT, type ActivityEntry, type ActivityLevel } from "../types";

/**
 * The agent activity log: what the dashboard tells the user, persisted so a restart keeps the
 * story. Messages and data are written for people and never carry a token or secret.
 *
 * Each entry belongs to one investor (`user_sub`: her agent's steps, her controls) or to everyone
 * (the public market's crash and stabilize). `forInvestor` gives the log one investor writes to;
 * `list` reads what one investor may see.
 */
export interface ActivityInput {
  level: ActivityLevel;
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

interface ActivityRow {
  id: number;
  at: Date | string;
  level: ActivityLevel;
  kind: string;
  message: string;
  data: Record<string, unknown> | null;
  user_sub: string | null;
}

/** Rows kept in the store per investor (and for the public market): the agent logs a price check every few seconds, for days. */
export const ACTIVITY_RETENTION = 5000;
const PRUNE_EVERY = 100;

export class ActivityLog {
  private insertsSincePrune = 0;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly retention = ACTIVITY_RETENTION,
    /** The investor this log writes for; undefined: entries everyone sees. */
    readonly userSub?: string,
  ) {}

  /** The log of one investor's entries (same store and bus). */
  forInvestor(userSub: string): ActivityLog {
    return new ActivityLog(this.db, this.bus, this.retention, userSub);
  }

  async add(input: ActivityInput, tx: Queryable = this.db): Promise<ActivityEntry> {
    const [row] = await tx.query<ActivityRow>(
      "INSERT INTO activity_log (level, kind, message, data, user_sub) VALUES ($1, $2, $3, $4, $5) RETURNING *",
      [input.level, input.kind, input.message, input.data ? JSON.stringify(input.data) : null, this.userSub ?? null],
    );
    const entry = toEntry(row!);
    if (++this.insertsSincePrune >= PRUNE_EVERY) {
      this.insertsSincePrune = 0;
      await this.prune();
    }
    this.bus.publish("activity", entry);
    if (input.level !== "debug") console.log(`[activity] ${input.level.padEnd(7)} ${input.kind}: ${input.message}`);
    return entry;
  }

  /**
   * Keeps this log's newest `retention` entries and drops older ones of the same owner only: one
   * investor's busy agent never pushes another's story (or the public market's) out of the store.
   */
  private async prune(): Promise<void> {
    // Written out for both owners so that each query can use the (user_sub, id DESC) index.
    const owner = this.userSub ? "user_sub = $2" : "user_sub IS NULL";
    await this.db.query(
      `DELETE FROM activity_log WHERE ${owner} AND id <= (SELECT id FROM activity_log WHERE ${owner} ORDER BY id DESC OFFSET $1 LIMIT 1)`,
      this.userSub ? [this.retention, this.userSub] : [this.retention],
    );
  }

  /** One entry by id (another instance's entry, too large to travel whole). */
  async get(id: number): Promise<ActivityEntry | undefined> {
    const [row] = await this.db.query<ActivityRow>("SELECT * FROM activity_log WHERE id = $1", [id]);
    return row && toEntry(row);
  }

  /** Newest first: this log's investor's entries and everyone's (all entries when it has none). */
  async list(limit = ACTIVITY_LIMIT): Promise<ActivityEntry[]> {
    const rows = this.userSub
      ? await this.db.query<ActivityRow>("SELECT * FROM activity_log WHERE user_sub IS NULL OR user_sub = $2 ORDER BY id DESC LIMIT $1", [limit, this.userSub])
      : await this.db.query<ActivityRow>("SELECT * FROM activity_log ORDER BY id DESC LIMIT $1", [limit]);
    return rows.map(toEntry);
  }

  /**
   * Forgets what this log's investor sees: her entries and the public market's, which restarts
   * with a reset (every entry when the log has no investor). Other investors' entries stay.
   */
  async clear(tx: Queryable = this.db): Promise<void> {
    if (this.userSub) await tx.query("DELETE FROM activity_log WHERE user_sub = $1 OR user_sub IS NULL", [this.userSub]);
    else await tx.query("DELETE FROM activity_log");
  }
}

function toEntry(row: ActivityRow): ActivityEntry {
  return {
    id: row.id,
    at: toIso(row.at),
    level: row.level,
    kind: row.kind,
    message: row.message,
    data: row.data,
    ...(row.user_sub ? { userSub: row.user_sub } : {}),
  };
}
