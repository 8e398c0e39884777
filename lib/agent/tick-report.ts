import "server-only";
import { formatMoney } from "../money";
import type { ActivityLevel } from "../types";
import type { Quote } from "./mcp-client";
import type { Mandate } from "./mandate";
import { PriceLogThrottle } from "./price-log";

/**
 * What a tick tells the activity log: price checks (throttled, crossings at once), and the
 * health of the agent's connections. A failing tick backs off exponentially (1 s … 30 s) and is
 * reported once per failure streak; failures in the first seconds after start are expected (the
 * server answers its own /oidc and /mcp and may not be listening yet) and stay quiet.
 */
const STARTUP_GRACE_MS = 15_000;
const MAX_BACKOFF_MS = 30_000;

type Log = (level: ActivityLevel, kind: string, message: string, data?: Record<string, unknown>) => Promise<void>;

export class TickReporter {
  private readonly priceLog = new PriceLogThrottle();
  private failingSince: number | undefined;
  private failures = 0;
  /** No tick before this instant (back-off after failures). */
  retryAt = 0;

  constructor(
    private readonly log: Log,
    private readonly agentName: string,
    private readonly startedAt = Date.now(),
  ) {}

  async price(quote: Quote, mandate: Mandate): Promise<void> {
    const decision = this.priceLog.decide(quote.priceCents, mandate.thresholdCents, Date.now());
    if (decision === "none") return;
    const price = `${quote.symbol} ${formatMoney(quote.priceCents)} USD`;
    const threshold = `${formatMoney(mandate.thresholdCents)} USD`;
    const data = { priceCents: quote.priceCents, thresholdCents: mandate.thresholdCents };
    if (decision === "crossed_below") await this.log("warn", "agent.threshold", `Price crossed below the threshold: ${price} < ${threshold}`, data);
    else if (decision === "crossed_above") await this.log("info", "agent.threshold", `Price back above the threshold: ${price} ≥ ${threshold}`, data);
    else await this.log("info", "agent.price", `Price checked via MCP (agent token): ${price}, threshold ${threshold}`, data);
  }

  /** The threshold or the market was reset: the next side is not a crossing. */
  forgetSide(): void {
    this.priceLog.forgetSide();
  }

  /** `what` failed, e.g. "could not read the price". */
  async failed(error: unknown, what: string): Promise<void> {
    this.failures += 1;
    this.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.failures - 1, 5));
    const quiet = Date.now() - this.startedAt < STARTUP_GRACE_MS;
    if (this.failingSince !== undefined || quiet) return;
    this.failingSince = Date.now();
    const why = error instanceof Error ? error.message.slice(0, 200) : "unknown error";
    await this.log("warn", "agent.unavailable", `${this.agentName} ${what}: ${why}. Retrying with back-off.`);
  }

  succeeded(): void {
    if (this.failingSince !== undefined) void this.log("info", "agent.recovered", "The agent reaches the broker and the identity server again.");
    this.failingSince = undefined;
    this.failures = 0;
    this.retryAt = 0;
  }
}
