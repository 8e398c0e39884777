import { spawn } from "node:child_process";
import path from "node:path";
import { Client as pgClient } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBus } from "@/lib/events/bus";
import { startEventRelay, type EventRelay } from "@/lib/events/relay";
import { openDb, type Db } from "@/lib/store/db";
import { postgresLeases, START_CONCURRENCY, type Leases } from "@/lib/store/leases";
import { migrate } from "@/lib/store/migrate";
import type { ActivityEntry } from "@/lib/types";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres";

/**
 * Leases and the event relay of several instances, as three sets of them on one real PostgreSQL
 * server (the multi-instance app test, scale-postgres.test.ts, shows the same through HTTP).
 */
let pg: TestPostgres;
let db: Db;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await done())) {
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}


const root = path.resolve(__dirname, "..", "..");

/** Stops this process's event loop for `ms`, as a long synchronous computation or a starved CPU does. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Another instance in a process of its own (lib/ loads under the react-server condition, as in
 * the app), asking for `names` every `checkMs`: it goes on asking while this process is stalled.
 * It prints `asking` once it has asked for each, then `gained <name>` / `lost <name>`.
 */
function leasesInChild(instanceId: string, names: string[], checkMs: number) {
  const code = `const { postgresLeases } = require(${JSON.stringify(path.join(root, "lib/store/leases.ts"))});
    const l = postgresLeases({ url: ${JSON.stringify(pg.url)}, instanceId: ${JSON.stringify(instanceId)}, checkMs: ${checkMs} });
    Promise.all(${JSON.stringify(names)}.map((name) => l.want(name, {
      onGained: () => console.log("gained " + name),
      onLost: () => console.log("lost " + name),
    }))).then(() => console.log("asking"));`;
  // One node process (tsx as a loader, not its CLI, which would run the code in a child of its own).
  const child = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", "-e", code], {
    cwd: root,
    env: { NODE_ENV: "development", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  return {
    child,
    lines: () => out.split("\n").filter(Boolean),
    gained: () => out.split("\n").filter((l) => l.startsWith("gained ")).map((l) => l.slice("gained ".length)).sort(),
  };
}

/** Asks `leases` for each of `names` with a job that does nothing and notes each loss in `lost`. */
async function wantAll(leases: Leases, names: string[], lost: string[]): Promise<void> {
  for (const name of names) await leases.want(name, { onGained: () => undefined, onLost: () => void lost.push(name) });
}

describe("leases and events on PostgreSQL", () => {
  beforeAll(async () => {
    pg = await startTestPostgres();
    db = await openDb({ databaseUrl: pg.url, dataDir: "unused" });
    await migrate(db);
  }, 180_000);

  afterAll(async () => {
    await db?.close();
    await pg?.stop();
  });

  it("gives a lease to one instance at a time, and to another one when the holder's connection dies", async () => {
    const running = new Map<string, boolean>();
    const instances: Leases[] = ["a", "b", "c"].map((id) => postgresLeases({ url: pg.url, instanceId: id, checkMs: 100 }));
    try {
      await Promise.all(
        instances.map((l) =>
          l.want("market:TEST", {
            onGained: () => void running.set(l.instanceId, true),
            onLost: () => void running.set(l.instanceId, false),
          }),
        ),
      );
      await sleep(400);
      const holders = instances.filter((l) => l.holds("market:TEST"));
      expect(holders).toHaveLength(1);
      expect([...running].filter(([, on]) => on).map(([id]) => id)).toEqual([holders[0]!.instanceId]);
      const holder = holders[0]!;
      const others = instances.filter((l) => l !== holder);
      // Every instance names the holder; only the holder passes the fencing check.
      for (const l of instances) expect(await l.holderOf("market:TEST")).toBe(holder.instanceId);
      expect(await db.transaction((tx) => holder.stillHeld(tx, "market:TEST"))).toBe(true);
      for (const l of others) expect(await db.transaction((tx) => l.stillHeld(tx, "market:TEST"))).toBe(false);

      // The holder's session ends as it does when its process is killed.
      await db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [`sleeping-guardian:${holder.instanceId}`]);
      const tookOver = await waitFor(() => others.some((l) => l.holds("market:TEST")), 3000);
      expect(tookOver).toBeLessThan(1000);
      await waitFor(() => !holder.holds("market:TEST"), 3000);
      expect(running.get(holder.instanceId)).toBe(false);
      expect(others.filter((l) => l.holds("market:TEST"))).toHaveLength(1);
      // The old holder reconnects and asks again, but the lease stays where it is.
      await sleep(400);
      expect(instances.filter((l) => l.holds("market:TEST"))).toHaveLength(1);
      expect(holder.holds("market:TEST")).toBe(false);
    } finally {
      await Promise.all(instances.map((l) => l.stop()));
    }
  });

  it("gives back every lease on stop(), so another instance takes it at its next check", async () => {
    const a = postgresLeases({ url: pg.url, instanceId: "a", checkMs: 100 });
    const b = postgresLeases({ url: pg.url, instanceId: "b", checkMs: 100 });
    try {
      const none = { onGained: () => undefined, onLost: () => undefined };
      await a.want("agent:alice:aurelius", none);
      await b.want("agent:alice:aurelius", none);
      expect([a.holds("agent:alice:aurelius"), b.holds("agent:alice:aurelius")]).toEqual([true, false]);
      await a.stop();
      await waitFor(() => b.holds("agent:alice:aurelius"), 2000);
      expect(await b.holderOf("agent:alice:aurelius")).toBe("b");
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("delivers each event to every other instance once, in order, and never back to its own", async () => {
    const buses = [new EventBus(), new EventBus(), new EventBus()];
    const seen = buses.map(() => [] as string[]);
    const remote = buses.map(() => [] as string[]);
    buses.forEach((bus, i) => {
      bus.subscribe("ledger", ({ reason }) => seen[i]!.push(reason));
      bus.subscribe("activity", (entry) => seen[i]!.push(`activity ${entry.id} ${entry.message.length}`));
      bus.subscribeRemote("ledger", ({ reason }) => remote[i]!.push(reason));
    });
    const big: ActivityEntry = { id: 4242, at: new Date().toISOString(), level: "info", kind: "test.big", message: "x".repeat(9000), data: null };
    const relays: EventRelay[] = await Promise.all(
      buses.map((bus, i) => startEventRelay({ url: pg.url, instanceId: `i${i}`, bus, readActivity: async (id) => (id === big.id ? big : undefined) })),
    );
    try {
      for (let n = 0; n < 20; n++) buses[n % 2]!.publish("ledger", { reason: `r${n}` });
      // Too large for a NOTIFY payload: it travels as its id and is read back.
      buses[2]!.publish("activity", big);
      const all = [...Array.from({ length: 20 }, (_, n) => `r${n}`), `activity 4242 9000`];
      await waitFor(() => seen.every((s) => s.length >= all.length), 5000).catch(() => undefined);
      await sleep(300);
      // Instance 2 published only the activity entry: it sees each instance's events once, in the order it published them.
      expect([...seen[2]!].sort()).toEqual([...all].sort());
      const fromInstance = (i: number) => seen[2]!.filter((r) => r.startsWith("r") && Number(r.slice(1)) % 2 === i);
      expect(fromInstance(0)).toEqual(all.filter((r, n) => r.startsWith("r") && n % 2 === 0));
      expect(fromInstance(1)).toEqual(all.filter((r, n) => r.startsWith("r") && n % 2 === 1));
      // Instances 0 and 1 each see all of it exactly once: their own locally, the rest relayed.
      for (const i of [0, 1]) {
        expect([...seen[i]!].sort()).toEqual([...all].sort());
        expect(remote[i]).toEqual(all.filter((r, n) => r.startsWith("r") && n % 2 !== i));
      }
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  });

  it("reconnects a relay whose connection was cut, and delivers again", async () => {
    const a = new EventBus();
    const b = new EventBus();
    const seen: string[] = [];
    b.subscribe("ledger", ({ reason }) => seen.push(reason));
    const relays = [
      await startEventRelay({ url: pg.url, instanceId: "ra", bus: a, readActivity: async () => undefined }),
      await startEventRelay({ url: pg.url, instanceId: "rb", bus: b, readActivity: async () => undefined }),
    ];
    try {
      a.publish("ledger", { reason: "before" });
      await waitFor(() => seen.includes("before"), 3000);
      const relayPid = async () => (await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'sleeping-guardian-events:rb'"))[0]?.pid;
      const cut = await relayPid();
      await db.query("SELECT pg_terminate_backend($1)", [cut]);
      // A new session of relay b, listening again.
      await waitFor(async () => ![undefined, cut].includes(await relayPid()), 5000);
      await sleep(200);
      a.publish("ledger", { reason: "after" });
      await waitFor(() => seen.includes("after"), 3000);
      expect(seen).toEqual(["before", "after"]);
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  });

  it("keeps its leases through a stall of its own event loop shorter than the server's idle timeout", async () => {
    const names = ["agent:s1:aurelius", "agent:s2:aurelius", "agent:s3:aurelius"];
    const lost: string[] = [];
    // Checks every second: the server ends a silent lock session after 10 s.
    const a = postgresLeases({ url: pg.url, instanceId: "stalling", checkMs: 1000 });
    const rival = leasesInChild("rival", names, 100);
    try {
      await wantAll(a, names, lost);
      expect(a.held().sort()).toEqual(names);
      await waitFor(() => rival.lines().includes("asking"), 30_000);

      // The event loop stops for 7 s just after the lock connection's next query (a check) is sent: its answer waits in the socket.
      let stalled = false;
      const query = pgClient.prototype.query;
      pgClient.prototype.query = function (this: InstanceType<typeof pgClient>, ...args: unknown[]) {
        const result = (query as (...a: unknown[]) => unknown).apply(this, args);
        if (!stalled && (this as unknown as { connectionParameters: { application_name?: string } }).connectionParameters.application_name === "sleeping-guardian:stalling") {
          stalled = true;
          queueMicrotask(() => blockEventLoop(7000));
        }
        return result;
      } as typeof query;
      try {
        await waitFor(() => stalled, 10_000);
      } finally {
        pgClient.prototype.query = query;
      }
      // A few checks after it.
      await sleep(2500);
      expect(lost).toEqual([]);
      expect(a.held().sort()).toEqual(names);
      for (const name of names) expect(await db.transaction((tx) => a.stillHeld(tx, name))).toBe(true);
      // The rival, asking every 100 ms all along, never got one.
      expect(rival.gained()).toEqual([]);
      expect(await a.holderOf(names[0]!)).toBe("stalling");
    } finally {
      rival.child.kill("SIGKILL");
      await a.stop();
    }
  }, 60_000);

  it("gives its leases up when the server ends its session, and the other instance takes them", async () => {
    const names = ["agent:d1:aurelius", "agent:d2:aurelius", "agent:d3:aurelius"];
    const lost: string[] = [];
    const a = postgresLeases({ url: pg.url, instanceId: "dropped", checkMs: 1000 });
    const rival = leasesInChild("rival", names, 100);
    try {
      await wantAll(a, names, lost);
      await waitFor(() => rival.lines().includes("asking"), 30_000);
      expect(rival.gained()).toEqual([]);
      await db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sleeping-guardian:dropped'");
      await waitFor(() => lost.length === names.length, 10_000);
      expect(lost.sort()).toEqual(names);
      expect(a.held()).toEqual([]);
      await waitFor(() => rival.gained().length === names.length, 10_000);
      expect(rival.gained()).toEqual(names);
      // a reconnects and asks again at its checks, but the leases stay with the rival.
      await sleep(2500);
      expect(a.held()).toEqual([]);
      expect(await a.holderOf(names[0]!)).toBe("rival");
    } finally {
      rival.child.kill("SIGKILL");
      await a.stop();
    }
  }, 60_000);

  it("gives its leases up when the server stops answering for as long as it keeps an idle session", async () => {
    const names = ["agent:q1:aurelius", "agent:q2:aurelius"];
    const lost: string[] = [];
    // Checks every 200 ms: the server ends a silent lock session after 2 s.
    const a = postgresLeases({ url: pg.url, instanceId: "unanswered", checkMs: 200 });
    try {
      await wantAll(a, names, lost);
      expect(a.held().sort()).toEqual(names);
      // The backend serving the lock connection stops: the connection stays open, nothing answers.
      const [row] = await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'sleeping-guardian:unanswered'");
      process.kill(row!.pid, "SIGSTOP");
      try {
        await waitFor(() => lost.length === names.length, 20_000);
      } finally {
        process.kill(row!.pid, "SIGCONT");
      }
      expect(lost.sort()).toEqual(names);
      expect(a.held()).toEqual([]);
    } finally {
      await a.stop();
    }
  }, 60_000);

  it(`starts the jobs of leases taken together ${START_CONCURRENCY} at a time, gives back the lease of one that fails, and stops only jobs that started`, async () => {
    const names = Array.from({ length: 20 }, (_, i) => `agent:c${String(i).padStart(2, "0")}:aurelius`);
    const failing = names[0]!;
    const gates = new Map<string, { open: () => void; fail: (e: Error) => void }>();
    const lost: string[] = [];
    let inFlight = 0;
    let most = 0;
    // One check at want() and the next a minute later: a does not ask again for the lease it gives back.
    const a = postgresLeases({ url: pg.url, instanceId: "starter", checkMs: 60_000 });
    const b = postgresLeases({ url: pg.url, instanceId: "other", checkMs: 500 });
    const wants = names.map((name) =>
      a.want(name, {
        onGained: async () => {
          most = Math.max(most, ++inFlight);
          try {
            await new Promise<void>((open, fail) => gates.set(name, { open, fail }));
          } finally {
            inFlight--;
          }
        },
        onLost: () => void lost.push(name),
      }),
    );
    try {
      // Every lease taken; the bound of starts running, the rest waiting for a slot.
      await waitFor(() => a.held().length === names.length && inFlight === START_CONCURRENCY, 10_000);
      await b.want(failing, { onGained: () => undefined, onLost: () => undefined });
      expect(b.holds(failing)).toBe(false);
      gates.get(failing)!.fail(new Error("the agent could not start"));
      await waitFor(() => b.holds(failing), 15_000);
      expect(a.holds(failing)).toBe(false);

      // The others' starts end one batch after another, until two are left in flight.
      const opened = new Set([failing]);
      while (opened.size < names.length - 2) {
        await waitFor(() => [...gates.keys()].some((n) => !opened.has(n)), 10_000);
        for (const [name, gate] of gates) {
          if (opened.size < names.length - 2 && !opened.has(name)) {
            opened.add(name);
            gate.open();
          }
        }
      }
      await waitFor(() => gates.size === names.length && inFlight === 2, 10_000);
      const stopping = a.stop();
      await sleep(300);
      // stop() waits for the two starts in flight: their jobs are not stopped before they started.
      const lastTwo = names.filter((n) => !opened.has(n));
      expect(lost.filter((n) => lastTwo.includes(n))).toEqual([]);
      for (const name of lastTwo) gates.get(name)!.open();
      await stopping;
      await Promise.all(wants);
      expect(lost.sort()).toEqual(names.filter((n) => n !== failing));
      expect(most).toBe(START_CONCURRENCY);
    } finally {
      for (const gate of gates.values()) gate.open();
      await a.stop();
      await b.stop();
    }
  }, 60_000);

  it("takes a lease from a holder that hangs without dying, once the server ends its idle session", async () => {
    // The holder in a process of its own (lib/ loads under the react-server condition, as in the app).
    const code = `const { postgresLeases } = require(${JSON.stringify(path.join(root, "lib/store/leases.ts"))});
      const l = postgresLeases({ url: ${JSON.stringify(pg.url)}, instanceId: "hung", checkMs: 200 });
      l.want("market:HUNG", { onGained: () => console.log("held"), onLost: () => undefined });`;
    // One node process (tsx as a loader, not its CLI, which would run the code in a child of its own).
    const child = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", "-e", code], {
      cwd: root,
      env: { NODE_ENV: "development", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    const other = postgresLeases({ url: pg.url, instanceId: "other", checkMs: 200 });
    try {
      await waitFor(() => out.includes("held"), 30_000);
      await other.want("market:HUNG", { onGained: () => undefined, onLost: () => undefined });
      await sleep(1000);
      expect(other.holds("market:HUNG")).toBe(false);
      expect(await other.holderOf("market:HUNG")).toBe("hung");
      child.kill("SIGSTOP");
      // Ten checks (2 s) of silence end the hung holder's session; the next check takes the lease.
      const took = await waitFor(() => other.holds("market:HUNG"), 6000);
      expect(took).toBeGreaterThan(1000);
      expect(await other.holderOf("market:HUNG")).toBe("other");
    } finally {
      child.kill("SIGKILL");
      await other.stop();
    }
  }, 60_000);
});
