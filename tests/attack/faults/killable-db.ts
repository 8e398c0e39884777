import type { Db, Queryable } from "@/lib/store/db";
import { never } from "./random";

/**
 * The agent process's handle on the shared store, for an in-process `kill -9`. Every statement
 * is counted; `killAfter(n)` lets n more statements through and then the process is dead: the
 * next statement never reaches the store and never answers, and answers to statements already
 * sent are never delivered. So the crash lands between any two writes the agent makes, exactly
 * where a real kill would leave the store. A statement inside a transaction fails instead of
 * hanging, so the store rolls that transaction back as a real server would on a dropped
 * connection (and the single PGlite connection is not held forever).
 */
export class KillableDb implements Db {
  readonly engine: Db["engine"];
  statements = 0;
  /** When the process last ran a statement (real ms). */
  lastStatementAt = Date.now();
  dead = false;
  /** The statement the process did not get to run (for the history). */
  diedBefore: string | undefined;
  private budget = Number.POSITIVE_INFINITY;

  constructor(
    private readonly inner: Db,
    private readonly onDeath: () => void = () => undefined,
    /** Sees every statement the process gets to run, before the store does. */
    private readonly observe: (sql: string, params: unknown[] | undefined) => void = () => undefined,
  ) {
    this.engine = inner.engine;
  }

  /** Dies before the (n+1)-th statement from now; 0 kills at the next statement. */
  killAfter(n: number): void {
    this.budget = this.statements + n;
  }

  /** No kill armed any more (the schedule's quiet period). */
  spare(): void {
    this.budget = Number.POSITIVE_INFINITY;
  }

  /** Dies now, wherever the process is (`where` says so in the history). */
  kill(where?: string): void {
    if (this.dead) return;
    this.dead = true;
    if (where) this.diedBefore = where;
    this.onDeath();
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    if (!this.admit(sql)) return never();
    this.observe(sql, params);
    return this.deliver(this.inner.query<T>(sql, params));
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.dead) return never();
    const run = this.inner.transaction((tx) =>
      work({
        query: <R>(sql: string, params?: unknown[]) => {
          if (!this.admit(sql)) return Promise.reject(new Error("the process was killed"));
          this.observe(sql, params);
          return tx.query<R>(sql, params);
        },
      }),
    );
    return this.deliver(run);
  }

  exec(sql: string): Promise<void> {
    if (!this.admit(sql)) return never();
    return this.deliver(this.inner.exec(sql));
  }

  /** The shared store outlives the process. */
  async close(): Promise<void> {}

  private admit(sql: string): boolean {
    if (this.dead) return false;
    if (this.statements >= this.budget) {
      this.diedBefore = sql.replace(/\s+/g, " ").trim().slice(0, 70);
      this.kill();
      return false;
    }
    this.statements += 1;
    this.lastStatementAt = Date.now();
    return true;
  }

  private deliver<T>(pending: Promise<T>): Promise<T> {
    return pending.then(
      (value) => (this.dead ? never<T>() : value),
      (error: unknown) => (this.dead ? never<T>() : Promise.reject(error)),
    );
  }
}
