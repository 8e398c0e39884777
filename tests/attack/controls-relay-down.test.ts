import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/lib/store/db";
import { afterAgentTicks, agentOf, dashboardOf, press, sleep, waitUntil } from "../helpers/agent-app";
import type { AppServer } from "../helpers/app-server";
import { startAgentPair, type AgentPair } from "../helpers/agent-pair";

/**
 * Alice's controls must reach her agent wherever it runs, also when the NOTIFY that carries them
 * does not: two instances of the built app on one real PostgreSQL, the agent on one of them, the
 * controls pressed on the other. The relay's LISTEN/NOTIFY connection of either instance is cut by
 * the server (pg_terminate_backend) just before a pause: a NOTIFY sent while the owner does not
 * listen, or not sent because the presser's own connection is down, is never delivered. The pause
 * must arrive anyway, and a run of pauses and resumes must end as the last one says.
 */
let pair: AgentPair;
let db: Db;
let owner: AppServer;
let other: AppServer;

/** Ends the relay's LISTEN/NOTIFY session of `app` at the server (lib/events/relay.ts names it). */
async function cutRelay(app: AppServer): Promise<void> {
  const rows = await db.query<{ ok: boolean }>(
    "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1",
    [`sleeping-guardian-events:${pair.idOf.get(app)}`],
  );
  expect(rows.map((r) => r.ok)).toEqual([true]);
}

const pausedOn = (app: AppServer) => agentOf(app.url).then((a) => a.paused);

describe("a control pressed while a relay connection is down", () => {
  beforeAll(async () => {
    pair = await startAgentPair({ PRICE_THRESHOLD: "148.00", MARKET_TICK_MS: "250", CIBA_INTERVAL_SECONDS: "1", AGENT_COOLDOWN_SECONDS: "60" });
    ({ db, owner, other } = pair);
  }, 240_000);

  afterAll(async () => {
    await pair?.close();
  });

  it("reaches the owner whose LISTEN connection was cut: its agent pauses and proposes nothing during a crash", async () => {
    await cutRelay(owner);
    expect((await press(other.url, "/api/agent/pause")).status).toBe(200);
    await waitUntil(() => pausedOn(owner), (paused) => paused, 10_000, "paused on the owner");

    // Paused in memory, not only in the store: a fall below the threshold gets no proposal.
    expect((await press(other.url, "/api/market/crash")).status).toBe(200);
    await waitUntil(() => dashboardOf(owner.url), (d) => d.market.priceCents < 14_700, 10_000, "the price below the threshold");
    await sleep(2000);
    expect(await agentOf(owner.url)).toMatchObject({ paused: true, state: "MONITORING", order: null });
    expect(await db.query("SELECT order_id FROM orders")).toEqual([]);

    expect((await press(other.url, "/api/market/reset")).status).toBe(200);
    expect((await press(other.url, "/api/agent/resume")).status).toBe(200);
    await waitUntil(() => pausedOn(owner), (paused) => !paused, 10_000, "resumed on the owner");
    await afterAgentTicks(owner.url, 2);
  }, 60_000);

  it("reaches the owner when the presser's own relay connection is down", async () => {
    await cutRelay(other);
    await waitUntil(async () => other.output(), (log) => /\[events\] relay connection lost/.test(log), 5_000, "the presser's relay connection lost");
    expect((await press(other.url, "/api/agent/pause")).status).toBe(200);
    await waitUntil(() => pausedOn(owner), (paused) => paused, 10_000, "paused on the owner");
    expect((await press(other.url, "/api/agent/resume")).status).toBe(200);
    await waitUntil(() => pausedOn(owner), (paused) => !paused, 10_000, "resumed on the owner");
  }, 60_000);

  it("does not undo a later control pressed on the owner itself: the stored setting wins over a late row", async () => {
    await cutRelay(owner);
    // The resume waits as a row for the owner's next look (its NOTIFY is lost); the pause pressed
    // on the owner right after applies at once and is the last word.
    expect((await press(other.url, "/api/agent/resume")).status).toBe(200);
    expect((await press(owner.url, "/api/agent/pause")).status).toBe(200);
    await waitUntil(() => db.query("SELECT id FROM agent_commands"), (rows) => rows.length === 0, 10_000, "the resume taken");
    await sleep(1000);
    expect(await pausedOn(owner)).toBe(true);
    expect((await press(owner.url, "/api/agent/resume")).status).toBe(200);
    expect(await pausedOn(owner)).toBe(false);
  }, 60_000);

  it("applies a quick run of pauses and resumes in the order they were pressed", async () => {
    const runs = [
      ["pause", "resume", "pause"],
      ["resume", "pause", "resume"],
      ["pause", "resume", "pause", "resume", "pause"],
      ["resume"],
    ] as const;
    for (const run of runs) {
      for (const action of run) expect((await press(other.url, `/api/agent/${action}`)).status).toBe(200);
      const paused = run.at(-1) === "pause";
      await waitUntil(() => pausedOn(owner), (p) => p === paused, 10_000, `${run.at(-1)} on the owner`);
      // Each control taken once, and the agent stays as the last one said.
      await waitUntil(() => db.query("SELECT id FROM agent_commands"), (rows) => rows.length === 0, 10_000, "every stored control taken");
      await sleep(1000);
      expect(await pausedOn(owner)).toBe(paused);
    }
  }, 90_000);
});
