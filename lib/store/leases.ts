import "server-only";
import type { Client } from "pg";
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

/** PostgreSQL: session advisory locks on one dedicated connection. */
export function postgresLeases({ url, instanceId, checkMs = 1000 }: PostgresLeaseOptions): Leases {
  const wanted = new Map<string, LeaseHandlers>();
  const held = new Set<string>();
  let client: Client | undefined;
  let backendPid: number | undefined;
  let stopped = false;
  let round: Promise<void> = Promise.resolve();
  /** The lock connection runs one query at a time: the checks and holderOf() take turns. */
  let turn: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = turn.then(work, work);
    turn = next.catch(() => undefined);
    return next;
  };

  const loseAll = async (why: string) => {
    const lost = [...held];
    held.clear();
    backendPid = undefined;
    const c = client;
    client = undefined;
    c?.end().catch(() => undefined);
    for (const name of lost) {
      console.warn(`[leases] ${instanceId} lost ${name}: ${why}`);
      await Promise.resolve(wanted.get(name)?.onLost()).catch(() => undefined);
    }
  };

  const connect = async (): Promise<Client> => {
    const { Client } = await import("pg");
    const c = new Client({
      connectionString: url,
      application_name: `${APP_PREFIX}${instanceId}`.slice(0, 63),
      keepAlive: true,
      // A server that stops answering must not hold up the checks: it counts as a lost connection.
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    c.on("error", (e) => {
      if (client === c) void loseAll(`lock connection failed (${e.message})`);
    });
    c.on("end", () => {
      if (client === c) void loseAll("lock connection closed");
    });
    await c.connect();
    await c.query(`SET idle_session_timeout = ${Math.max(1000, checkMs * 10)}`).catch(() => undefined);
    const [row] = (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows;
    client = c;
    backendPid = row!.pid;
    return c;
  };

  const check = async () => {
    if (stopped) return;
    let c: Client;
    try {
      c = client ?? (await connect());
      // The connection is alive: a lock held on it is still ours.
      await serially(() => c.query("SELECT 1"));
    } catch (error) {
      await loseAll(`lock connection unavailable (${error instanceof Error ? error.message : "unknown"})`);
      return;
    }
    for (const [name, handlers] of wanted) {
      if (held.has(name) || stopped) continue;
      let got = false;
      try {
        got = (await serially(() => c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [name]))).rows[0]!.ok;
      } catch {
        return; // the error handler drops the connection; the next round reconnects
      }
      if (!got) continue;
      held.add(name);
      console.log(`[leases] ${instanceId} holds ${name}`);
      try {
        await handlers.onGained();
      } catch (error) {
        console.error(`[leases] ${name} could not start, giving the lease back:`, error instanceof Error ? error.message : error);
        held.delete(name);
        await serially(() => c.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [name])).catch(() => undefined);
      }
    }
  };

  const runCheck = () => {
    round = round.then(check, check);
    return round;
  };
  const timer = setInterval(() => void runCheck(), checkMs);
  timer.unref?.();

  return {
    instanceId,
    want(name, handlers) {
      wanted.set(name, handlers);
      return runCheck();
    },
    holds: (name) => held.has(name),
    held: () => [...held],
    async holderOf(name) {
      if (held.has(name)) return instanceId;
      const c = client;
      if (!c) return undefined;
      // pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits).
      const rows = (
        await serially(() => c.query<{ name: string }>(
          `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)`,
          [name],
        ))
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
      for (const name of [...held]) {
        held.delete(name);
        await Promise.resolve(wanted.get(name)?.onLost()).catch(() => undefined);
      }
      // Closing the session gives every lock back at once.
      const c = client;
      client = undefined;
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
