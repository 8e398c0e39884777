import { aliceDecides } from "./alice";
import { AppProcess } from "./app-process";
import { History } from "./history";
import { Network } from "./network";
import { sleep } from "./random";
import { describe, type Op } from "./schedule";
import type { World } from "./world";

/**
 * Runs one schedule against the world: a fresh store, one agent process, the operations in
 * order (a supervisor restarts the process after any operation in which it died), then a quiet
 * period: faults healed, a flow in flight may finish at the last price, then the market goes back
 * above the threshold and the agent's clock past expiry and each cooldown, and the agent must
 * come to rest (MONITORING, armed, no request pending). The schedule ends with the last process killed and every request answered, so the
 * stores hold the whole history for the invariants.
 */
const KILL_WAIT_MS = 300;
/** A process that ran no statement for this long is idle. */
const IDLE_MS = 60;
const QUIET_BUDGET_MS = 5000;
/** How long the quiet period lets a flow in flight finish at the schedule's last price. */
const DRAIN_MS = 3000;
/** How often the runner looks at the stores while it waits for something. */
const LOOK_EVERY_MS = 15;

export interface RunResult {
  history: History;
  /** The agent came to rest in the quiet period. */
  rested: boolean;
  restState: string;
}

export async function runSchedule(world: World, ops: Op[], history = new History()): Promise<RunResult> {
  await world.reset();
  return new Run(world, history).execute(ops);
}

class Run {
  private readonly network: Network;
  private app!: AppProcess;
  /** A kill armed for the recovery of the next restart. */
  private againAfter: number | undefined;

  constructor(
    private readonly world: World,
    private readonly history: History,
  ) {
    this.network = new Network(world, history);
  }

  async execute(ops: Op[]): Promise<RunResult> {
    await this.boot();
    for (const op of ops) {
      this.history.add(describe(op));
      await this.apply(op);
      if (this.app.dead) await this.boot(this.againAfter);
    }
    const rest = await this.quiet();
    this.app.db.kill("the end of the schedule");
    await this.network.attacker.settled();
    if (!(await this.world.inflight.drained(5000))) this.history.add("requests still unanswered after 5 s");
    return { history: this.history, ...rest };
  }

  private async apply(op: Op): Promise<void> {
    const { world, network } = this;
    switch (op.op) {
      case "fall":
      case "rise":
        return world.market.setPrice(op.priceCents);
      case "pause":
        return sleep(op.ms);
      case "settle":
        return this.settle(op.ms);
      case "time":
        return world.clock.jump(op.seconds);
      case "approve":
      case "deny":
        return aliceDecides(world, network, this.history, op.op, op.waitMs, () => !this.app.dead);
      case "idp_down":
        return network.outage(op.ms);
      case "kill":
        if (typeof op.at !== "number") {
          this.againAfter = op.againAfter;
          return this.app.killOnAnswer(op.at === "trade_answer" ? "trade" : "token");
        }
        await this.killAfter(op.at);
        await sleep(op.downMs);
        await this.boot(op.againAfter);
        return;
      case "replay":
        return network.attacker.arm(op.variant);
      case "replay_now":
        return network.attacker.replayNow(op.variant);
      case "duplicate_polls":
        network.duplicatePolls += op.count;
        return;
    }
  }

  private async quiet(): Promise<{ rested: boolean; restState: string }> {
    this.history.add("quiet: faults healed; what is in flight finishes; then the price back at 150.00, the agent's clock past expiry and each cooldown");
    this.network.heal();
    this.app.db.spare();
    // The flow in flight finishes; a kill armed for its answers may still land (and the process
    // is restarted, as during the operations).
    const drainUntil = Date.now() + DRAIN_MS;
    do {
      if (this.app.dead) await this.boot(this.againAfter);
      await this.settle(drainUntil - Date.now());
    } while (this.app.dead && Date.now() < drainUntil);
    this.app.spare();
    if (this.app.dead) await this.boot();
    this.network.attacker.disarm();
    await this.world.market.setPrice(this.world.config.market.initialPriceCents);
    this.world.clock.jump(this.world.config.agent.approvalExpirySeconds + 10);
    // A process started while the identity server was down backs off in real seconds; Alice
    // presses Resume on the dashboard, which retries at once.
    if (this.network.refused > 0) await this.app.agent.resume();
    const rest = await this.awaitRest();
    this.history.add(rest.rested ? "the agent is at rest" : `the agent did not come to rest: ${rest.restState}`);
    return rest;
  }

  /** A new process on the same store, as after a crash. */
  private async boot(killAfter?: number): Promise<void> {
    this.againAfter = undefined;
    // The restart takes as long as the wait for the next poll of a request the agent will resume.
    const [resume] = await this.world.db.query<{ at: Date | null }>("SELECT max(next_poll_at) AS at FROM pending_approvals WHERE status = 'pending'");
    if (resume?.at) this.world.clock.advanceTo(new Date(resume.at));
    this.app = new AppProcess(this.world, this.network, this.history);
    if (killAfter !== undefined) this.app.db.killAfter(killAfter);
    this.history.add(`${this.app.name} starts`);
    await this.app.start();
  }

  /** Kills after the next n statements; a process that runs out of work first is killed where it stands. */
  private async killAfter(statements: number): Promise<void> {
    const { app } = this;
    app.db.killAfter(statements);
    const deadline = Date.now() + KILL_WAIT_MS;
    while (!app.dead && Date.now() < deadline && Date.now() - app.db.lastStatementAt < IDLE_MS) await sleep(5);
    app.kill();
  }

  /** Waits (at most `ms`) until no request is pending and the agent is not between proposal and trade. */
  private async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && !this.app.dead) {
      const [row] = await this.world.db.query<{ busy: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM agent_state WHERE state IN ('PROPOSING', 'EXECUTING', 'AWAITING_APPROVAL'))
             OR EXISTS (SELECT 1 FROM pending_approvals WHERE status = 'pending') AS busy`,
      );
      if (!row?.busy) return;
      await sleep(LOOK_EVERY_MS);
    }
  }

  /**
   * Until MONITORING, armed, nothing pending. A cooldown a flow ended with is let pass (the clock
   * jumps past it) and the agent is ticked at once instead of at its timer's next beat.
   */
  private async awaitRest(): Promise<{ rested: boolean; restState: string }> {
    const deadline = Date.now() + QUIET_BUDGET_MS;
    for (;;) {
      const [row] = await this.world.db.query<{ state: string; armed: boolean; cooldown_until: Date | null; pending: number }>(
        "SELECT state, armed, cooldown_until, (SELECT count(*)::int FROM pending_approvals WHERE status = 'pending') AS pending FROM agent_state",
      );
      const restState = `${row?.state ?? "no agent row"}${row && !row.armed ? " (not armed)" : ""}, ${row?.pending ?? 0} approval(s) pending`;
      if (row?.state === "MONITORING" && row.armed && row.pending === 0) return { rested: true, restState };
      if (Date.now() > deadline) return { rested: false, restState };
      if (row?.cooldown_until) this.world.clock.advanceTo(new Date(new Date(row.cooldown_until).getTime() + 1000));
      // The next tick early, rather than waiting for the timer (a tick in flight is joined).
      void this.app.agent.tick();
      await sleep(LOOK_EVERY_MS);
    }
  }
}
