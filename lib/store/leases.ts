import "server-only";
import type { Client, QueryResultRow } from "pg";
import type { Queryable } from "./db";

/**
 * Leases: which instance does a job that must run in one place only (the market ticker, one
 * investor's agent). On PostgreSQL a lease is a session advisory lock (`pg_try_advisory_lock`)
 * held on one dedicated connection per instance: PostgreSQL itself decides who holds it, and
 * when the holder dies its connection closes and the lock is free at once, for the next instance
 * that asks (every `checkMs`). With PGlite there is one process: it holds every lease from the
 * start.
 *
 * A lease is named by a string (`market:NVDA`, `agent:<investor sub>:<agent id>`); the lock key
 * is PostgreSQL's `hashtextextended(name, 0)`.
 *
 * A holder that hangs without dying (stopped, its event loop stuck) keeps its connection open, so
 * the lock connection sets `idle_session_timeout` (PostgreSQL 14+) to ten checks: a live holder
 * checks every `checkMs` and is never idle that long; a hung one is disconnected by the server,
 * which frees its leases.
 */
export interface LeaseHandlers {
  /** This instance now holds the lease: start the job. A throw gives the lease back. */
  onGained(): Promise<void> | void;
  /** The lease is gone (connection lost, stop()): stop the job at once. */
  onLost(): Promise<void> | void;
}

export interface Leases {
  readonly instanceId: string;
  /**
   * Asks for the lease now and at every check until held; the handlers follow it. Resolves once
   * the first attempt is over (the job started here, or the lease is held elsewhere).
   */
  want(name: string, handlers: LeaseHandlers): Promise<void>;
  holds(name: string): boolean;
  /** The leases this instance holds. */
  held(): string[];
  /** The instance holding `name` (any instance), or undefined when nobody does. */
  holderOf(name: string): Promise<string | undefined>;
  /**
   * Inside a transaction of the job: whether this instance still holds `name`. A job that lost
   * its connection may not have noticed yet; its writes check this first (fencing).
   */
  stillHeld(tx: Queryable, name: string): Promise<boolean>;
  /** Stops the jobs and gives every lease back. */
  stop(): Promise<void>;
}

export const marketLease = (symbol: string) => `market:${symbol}`;
export const agentLease = (investorSub: string, agentId: string) => `agent:${investorSub}:${agentId}`;

/** The lock connection's application_name: how holderOf() names an instance from pg_stat_activity. */
const APP_PREFIX = "sleeping-guardian:";

/** PGlite: the one process holds every lease. */
export function localLeases(instanceId: string): Leases {
  const wanted = new Map<string, LeaseHandlers>();
  const held = new Set<string>();
  return {
    instanceId,
    async want(name, handlers) {
      wanted.set(name, handlers);
      try {
        await handlers.onGained();
        held.add(name);
      } catch (e) {
        console.error(`[leases] ${name} could not start:`, e instanceof Error ? e.message : e);
      }
    },
    holds: (name) => held.has(name),
    held: () => [...held],
    holderOf: async (name) => (held.has(name) ? instanceId : undefined),
    stillHeld: async (_tx, name) => held.has(name),
    async stop() {
      for (const name of [...held]) {
        held.delete(name);
        await wanted.get(name)?.onLost();
      }
    },
  };
}

export interface PostgresLeaseOptions {
  url: string;
  instanceId: string;
  /** How often a free lease is asked for and the lock connection checked. */
  checkMs?: number;
}

/**
 * How many onGained run at once on one instance. An agent's start (its token, its MCP connection,
 * recovery) takes a few hundred milliseconds, mostly waiting on this same server: one at a time,
 * an instance taking over dozens of agents needs tens of seconds; eight at a time it needs a few,
 * without a flood of starts crowding out the requests the instance is serving meanwhile.
 */
export const START_CONCURRENCY = 8;

/**
 * PostgreSQL: session advisory locks on one dedicated connection.
 *
 * When is a lease lost? The server frees a session lock only when the session ends (or it is
 * unlocked). A session ends when its connection breaks (the `error` and `end` events here) or
 * when the server ends it for idleness: `idle_session_timeout` (`idleMs`) counts from the
 * server's last answer, which came after the query was sent. So once a query sent at time t is
 * answered, the session lives until t + idleMs at least, and no other instance can hold our locks
 * before then. This instance gives its leases up when the connection fails or ends, or when no
 * query it sent within the last idleMs - checkMs (one check of margin) has been answered: then
 * the server may have ended the session and another instance may hold the lock.
 *
 * A stall of this process (an event loop busy for seconds under load) shorter than that loses
 * nothing: the answers wait in the socket and are read when it resumes. A query timeout would
 * fire before they are read and drop leases the server still holds. A stall longer than that may
 * outlast the session; the watchdog gives the leases up at the first turn of the loop after it,
 * and a job's write that runs before it is refused by the fencing (stillHeld asks the server
 * which session holds the lock).
 */
export function postgresLeases({ url, instanceId, checkMs = 1000 }: PostgresLeaseOptions): Leases {
  const wanted = new Map<string, LeaseHandlers>();
  const held = new Set<string>();
  /** Starts queued or running, by lease: each resolves to whether onGained succeeded. */
  const starting = new Map<string, Promise<boolean>>();
  const idleMs = Math.max(1000, checkMs * 10);
  let client: Client | undefined;
  let backendPid: number | undefined;
  /** When the newest query that the lock connection answered was sent. */
  let answeredSentAt = 0;
  let stopped = false;
  let round: Promise<void> = Promise.resolve();
  let roundsPending = 0;
  /** The lock connection runs one query at a time: the checks, the starts and holderOf() take turns. */
  let turn: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = turn.then(work, work);
    turn = next.catch(() => undefined);
    return next;
  };
  const ask = <R extends QueryResultRow>(c: Client, sql: string, params?: unknown[]) =>
    serially(async () => {
      const sentAt = Date.now();
      const result = await c.query<R>(sql, params);
      if (client === c) answeredSentAt = Math.max(answeredSentAt, sentAt);
      return result;
    });

  // Start slots: a finished start hands its slot to the next one waiting.
  let running = 0;
  const waiting: (() => void)[] = [];
  const takeSlot = async () => {
    if (running < START_CONCURRENCY) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const releaseSlot = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  /** Starts the job of a lease just taken on `c`; a throw gives the lease back. */
  const start = (name: string, handlers: LeaseHandlers, c: Client) => {
    const job = (async () => {
      await takeSlot();
      try {
        if (stopped || !held.has(name)) return false;
        await handlers.onGained();
        return true;
      } catch (error) {
        console.error(`[leases] ${name} could not start, giving the lease back:`, error instanceof Error ? error.message : error);
        if (held.delete(name) && client === c) await ask(c, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", [name]).catch(() => undefined);
        return false;
      } finally {
        releaseSlot();
      }
    })();
    starting.set(name, job);
    void job.then(() => {
      if (starting.get(name) === job) starting.delete(name);
    });
  };

  /** Stops the job of a lease no longer held here, once its start (if in flight) is over. */
  const lose = async (name: string, why?: string) => {
    if (!held.delete(name)) return;
    const job = starting.get(name);
    if (job && !(await job)) return; // its job never started
    if (why) console.warn(`[leases] ${instanceId} lost ${name}: ${why}`);
    await Promise.resolve(wanted.get(name)?.onLost()).catch(() => undefined);
  };

  const loseAll = async (c: Client, why: string) => {
    if (client !== c) return;
    client = undefined;
    backendPid = undefined;
    c.end().catch(() => undefined);
    await Promise.all([...held].map((name) => lose(name, why)));
  };

  const connect = async (): Promise<Client> => {
    const { Client } = await import("pg");
    const c = new Client({
      connectionString: url,
      application_name: `${APP_PREFIX}${instanceId}`.slice(0, 63),
      keepAlive: true,
      // Nothing is held before the connection is up: a server slow to accept it is asked again at the next check.
      connectionTimeoutMillis: 5000,
    });
    c.on("error", (e) => void loseAll(c, `lock connection failed (${e.message})`));
    c.on("end", () => void loseAll(c, "lock connection closed"));
    try {
      await c.connect();
      await c.query(`SET idle_session_timeout = ${idleMs}`).catch(() => undefined);
      const sentAt = Date.now();
      const [row] = (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows;
      client = c;
      backendPid = row!.pid;
      answeredSentAt = sentAt;
      return c;
    } catch (error) {
      c.end().catch(() => undefined);
      throw error;
    }
  };

  /** Gives the leases up when the lock connection has not answered for as long as the server keeps an idle session. */
  const watch = () => {
    const c = client;
    const silent = () => Date.now() - answeredSentAt > idleMs - checkMs;
    if (!c || !silent()) return;
    // After a stall of this process an answer may be waiting unread: the loop reads it before setImmediate runs.
    setImmediate(() => {
      if (client === c && silent()) void loseAll(c, `lock connection silent for ${Date.now() - answeredSentAt} ms`);
    });
  };

  /** Checks the lock connection and asks for the free leases wanted (or only `only`). */
  const check = async (only?: string) => {
    if (stopped) return;
    let c = client;
    try {
      c ??= await connect();
    } catch {
      return; // asked again at the next check
    }
    try {
      // The connection is alive: a lock held on it is still ours.
      await ask(c, "SELECT 1");
    } catch (error) {
      await loseAll(c, `lock connection unavailable (${error instanceof Error ? error.message : "unknown"})`);
      return;
    }
    for (const [name, handlers] of only ? [[only, wanted.get(only)!] as const] : wanted) {
      if (stopped || client !== c) return;
      // A lease whose job is starting (or giving the lease back) is not asked for again meanwhile.
      if (held.has(name) || starting.has(name)) continue;
      let got = false;
      try {
        got = (await ask<{ ok: boolean }>(c, "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [name])).rows[0]!.ok;
      } catch {
        return; // the error handler drops the connection; the next round reconnects
      }
      if (!got || client !== c) continue;
      held.add(name);
      console.log(`[leases] ${instanceId} holds ${name}`);
      // Started beside the checks, not awaited by them: the lock connection keeps answering meanwhile.
      start(name, handlers, c);
    }
  };

  const runCheck = (only?: string) => {
    roundsPending++;
    const next = () => check(only);
    round = round.then(next, next).finally(() => void roundsPending--);
    return round;
  };
  const timer = setInterval(() => {
    watch();
    if (roundsPending === 0) void runCheck();
  }, checkMs);
  timer.unref?.();

  return {
    instanceId,
    async want(name, handlers) {
      wanted.set(name, handlers);
      // This lease now; the others wait for the next check.
      await runCheck(name);
      await starting.get(name);
    },
    holds: (name) => held.has(name),
    held: () => [...held],
    async holderOf(name) {
      if (held.has(name)) return instanceId;
      const c = client;
      if (!c) return undefined;
      // pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits).
      const rows = (
        await ask<{ name: string }>(
          c,
          `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)`,
          [name],
        )
      ).rows;
      const holder = rows[0]?.name;
      return holder?.startsWith(APP_PREFIX) ? holder.slice(APP_PREFIX.length) : undefined;
    },
    async stillHeld(tx, name) {
      if (!held.has(name) || backendPid === undefined) return false;
      const [row] = await tx.query<{ ok: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = $1
            AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($2, 0)) AS ok`,
        [backendPid, name],
      );
      return row?.ok === true;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await round.catch(() => undefined);
      // Starts in flight finish first; the jobs that started are stopped.
      await Promise.all([...held].map((name) => lose(name)));
      // Closing the session gives every lock back at once.
      const c = client;
      client = undefined;
      backendPid = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}

/**
 * Runs `work` while holding the advisory lock `name` on a connection of its own, waiting for it:
 * several instances starting at once on one PostgreSQL migrate one after the other.
 */
export async function runExclusively<T>(url: string, name: string, work: () => Promise<T>): Promise<T> {
  const { Client } = await import("pg");
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [name]);
    return await work();
  } finally {
    await c.end().catch(() => undefined);
  }
}
