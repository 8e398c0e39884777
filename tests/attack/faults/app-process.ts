import { Agent } from "@/lib/agent/agent";
import { createRulesModel } from "@/lib/agent/models/rules-model";
import { ActivityLog } from "@/lib/events/activity";
import { isOnBehalfTradeCall } from "./attacker";
import type { History } from "./history";
import { KillableDb } from "./killable-db";
import { isCibaPoll, type Network } from "./network";
import { never } from "./random";
import type { World } from "./world";

/**
 * One run of the app's agent between start and kill -9, in-process: the real Agent (rules model,
 * embedded profile, MCP client) on its own KillableDb over the shared store and its own fetch
 * over the schedule's network. Its timer is this object's: killing it stops the ticks, every
 * pending store call and request of the dead process stays unanswered forever, and nothing is
 * cleaned up. A restart is a new AppProcess on the same store, as after a real crash. Unlike a
 * real kill of the app, the identity server and the broker live on (they are other processes
 * here): a request the process sent before it died is still served to the end.
 */
export const TICK_MS = 80;

let incarnations = 0;

export class AppProcess {
  readonly name = `process ${++incarnations}`;
  readonly db: KillableDb;
  readonly agent: Agent;
  /** Resolves when the process dies. */
  readonly died: Promise<void>;
  private ticker: NodeJS.Timeout | undefined;
  /** Dies the moment this answer reaches it (the server did the work; the process never learns). */
  private killOn: "trade" | "token" | undefined;

  constructor(world: World, network: Network, history: History) {
    let onDeath!: () => void;
    this.died = new Promise<void>((resolve) => (onDeath = resolve));
    this.db = new KillableDb(
      world.db,
      () => {
        clearInterval(this.ticker);
        history.add(`${this.name} killed${this.db.diedBefore ? ` before: ${this.db.diedBefore}` : ""} (${this.db.statements} statements run)`);
        onDeath();
      },
      (sql, params) => {
        const until = nextPollIn(sql, params);
        if (until) world.clock.advanceTo(until);
      },
    );
    const send = network.send;
    this.agent = new Agent({
      config: world.config,
      db: this.db,
      bus: world.bus,
      activity: new ActivityLog(this.db, world.bus),
      clientSecret: world.agentSecret,
      model: { model: createRulesModel(), label: "rules", kind: "rules" },
      fetch: async (input, init) => {
        if (this.dead) return never();
        const response = await send(input, init);
        if (this.killOn && this.answers(this.killOn, input, init, response)) this.db.kill(`reading the answer to its ${this.killOn === "trade" ? "on-behalf-of trade call" : "CIBA poll (the token)"}`);
        return this.dead ? never() : response;
      },
      now: world.clock.now,
      // The agent's own timer stays idle; this process ticks it (and a kill stops that).
      tickMs: 3_600_000,
    });
  }

  get dead(): boolean {
    return this.db.dead;
  }

  /** Starts the agent (its recovery runs first) unless the process dies on the way. */
  async start(): Promise<void> {
    await Promise.race([this.agent.start(), this.died]);
    if (this.dead) return;
    this.ticker = setInterval(() => void this.agent.tick(), TICK_MS);
  }

  kill(): void {
    this.db.kill();
  }

  killOnAnswer(kind: "trade" | "token"): void {
    this.killOn = kind;
  }

  /** No kill armed any more (the schedule's quiet period). */
  spare(): void {
    this.killOn = undefined;
    this.db.spare();
  }

  private answers(kind: "trade" | "token", input: string | URL | Request, init: RequestInit | undefined, response: Response): boolean {
    const url = input instanceof Request ? input.url : input.toString();
    if (kind === "trade") return isOnBehalfTradeCall(init);
    return response.status === 200 && isCibaPoll(new URL(url).pathname, init);
  }
}

/**
 * The instant of the next CIBA poll when `sql` stores one (the agent persists it right before it
 * waits: repository.ts insertApproval and updateApprovalPolling), read from the column
 * `next_poll_at` in an UPDATE's SET list or an INSERT's column list.
 */
export function nextPollIn(sql: string, params: unknown[] | undefined): Date | undefined {
  if (!params || !/\bpending_approvals\b/.test(sql) || !sql.includes("next_poll_at")) return undefined;
  let placeholder = /next_poll_at\s*=\s*\$(\d+)/.exec(sql)?.[1];
  const insert = /INSERT\s+INTO\s+pending_approvals\s*\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)/i.exec(sql);
  if (!placeholder && insert) {
    const columns = insert[1]!.split(",").map((c) => c.trim());
    placeholder = /^\$(\d+)$/.exec(insert[2]!.split(",").map((v) => v.trim())[columns.indexOf("next_poll_at")] ?? "")?.[1];
  }
  const value = placeholder ? params[Number(placeholder) - 1] : undefined;
  const instant = value instanceof Date ? value : typeof value === "string" ? new Date(value) : undefined;
  return instant && !Number.isNaN(instant.getTime()) ? instant : undefined;
}
