import "server-only";
import { pollUntilDecided, startPollState } from "../auth/ciba-poller";
import { ProtocolError } from "../errors";
import type { StockTradeMandateDetail } from "../standing-mandate/mandate";
import { MandateGrantVault } from "./mandate-grant-vault";
import { mandateBindingMessage, StandingMandate } from "./standing-mandate";
import { AgentTokenSource } from "../auth/agent-token";
import { createAppFetch, type FetchLike } from "../auth/app-fetch";
import { createIdentityServerProfile } from "../auth/profiles";
import type { IdentityServerProfile, TokenResult } from "../auth/profiles/types";
import type { AppConfig } from "../config";
import type { ActivityLog } from "../events/activity";
import type { AgentCommand, EventBus } from "../events/bus";
import { formatMoney } from "../money";
import type { Db } from "../store/db";
import type { ActivityLevel } from "../types";
import { awaitApprovalAndTrade, cooldown, failed, finish, runFlow, time, type AgentContext } from "./flow";
import { AgentMcpClient, type McpClientPort, type Quote } from "./mcp-client";
import type { PriceWatch } from "./price-watch";
import { priceResourceUri } from "../protocol";
import type { Mandate } from "./mandate";
import { selectModel, type ModelChoice } from "./models/select";
import { recoverFromLedger } from "./recovery";
import { getOrder } from "../store/orders";
import { readAgentRevocation } from "../store/agent-revocations";
import { cancelOpenWork, findApprovalForOrder, type AgentPatch, type AgentRow } from "./repository";
import { mandatedLine as mandateLine, pausedLine, resumedLine } from "./control-lines";
import { agentKey, readMandate, readPaused, writeMandate, writePaused, type MandateInForce } from "./settings";
import { isTerminal, type AgentEvent } from "./state-machine";
import { AgentStateStore } from "./state-store";
import { TickReporter } from "./tick-report";
import { buildView } from "./view-model";
import type { AgentView } from "./view";

/** How long after a demo reset a price older than the market's reset tick is ignored. */
const RESET_PRICE_GRACE_MS = 10_000;

/**
 * Aurelius, the agent loop. One per process (lib/runtime.ts starts it after the identity server).
 *
 * Every tick it reads the price through MCP with its own token. A tick comes from the broker:
 * the agent subscribes to the price resource (price-watch.ts) and ticks on each update, within
 * milliseconds of the market's tick; a slower timer of its own keeps it working when that stream
 * is down. When the price is below the
 * threshold, nothing is open, the cooldown has passed and the agent is armed, it starts one unit
 * of work: ask the model, freeze the order, meet the broker's 403, ask Alice through CIBA, wait,
 * and trade with the OBO token (the seven steps of flow.ts). Ticks go on while that work waits, so the
 * dashboard keeps moving. State is persisted at every transition. After a restart the agent
 * reads what happened from the store before it does anything (recovery.ts): a trade in the
 * ledger makes the run DONE, a pending approval is polled again, and an interrupted proposal or
 * trade ends as FAILED, without asking Alice again during the same fall when the interrupted
 * step may already have reached the broker or the identity server.
 */
export interface AgentDeps {
  config: AppConfig;
  db: Db;
  bus: EventBus;
  activity: ActivityLog;
  /** The agent's client secret (AGENT_CLIENT_SECRET, or the embedded server's generated one). */
  clientSecret: string;
  /** Overrides for tests: the model, the identity-server profile, the MCP client, fetch, the clock. */
  model?: ModelChoice;
  profile?: IdentityServerProfile;
  mcpClient?: (tokens: AgentTokenSource) => McpClientPort;
  fetch?: FetchLike;
  now?: () => Date;
  /** How the agent waits between CIBA polls (tests pass one that follows their clock). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The agent's own timer (default: the market's tick). */
  tickMs?: number;
  /** Subscribe to the price resource and tick on each update (the runtime does; tests that drive ticks do not). */
  priceStream?: boolean;
  /**
   * The agent let a standing mandate go (its grant failed or could not be trusted after a start)
   * and revoked its record: the runtime withdraws the grant at the authorization server, which
   * the agent cannot reach but through its client.
   */
  onMandateLost?: (mandateId: string) => Promise<void>;
}


export class Agent {
  readonly model: ModelChoice;
  private readonly profile: IdentityServerProfile;
  private readonly tokens: AgentTokenSource;
  /** Alice's standing mandate's grant, once she has approved one (sealed in the store, taken up again by start()). */
  readonly standing: StandingMandate;
  private readonly mcp: McpClientPort;
  private readonly report: TickReporter;
  private readonly now: () => Date;
  private readonly store: AgentStateStore;
  private paused = false;
  /** Why Alice revoked the agent (the kill switch); set, the loop does nothing until a new Agent starts. */
  private revokedReason: string | undefined;
  /** The mandate in force, kept in memory: loaded by start(), replaced by updateMandate(). */
  private mandate: MandateInForce | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private tickRun: Promise<void> | undefined;
  /** An update arrived during a tick: tick again once it ends, so the new price is not skipped. */
  private tickAgain = false;
  private priceWatch: PriceWatch | undefined;
  private work: Promise<void> | undefined;
  private workAbort: AbortController | undefined;
  private lastQuote: Quote | undefined;
  /** Counts demo resets: a tick that read the price before one does not act on that price. */
  private resets = 0;
  /**
   * The time of the market's last reset tick: an older price (read from an instance that has not
   * seen the reset yet) is not acted on, for RESET_PRICE_GRACE_MS at most (instances' clocks may differ).
   */
  private pricesFrom: { at: string; until: number } | undefined;
  /** The failed order whose trade the ledger was last asked about before resting. */
  private ledgerCheckedFor: string | undefined;

  constructor(private readonly deps: AgentDeps) {
    const { config } = deps;
    this.now = deps.now ?? (() => new Date());
    this.store = new AgentStateStore(deps.db, agentKey(config), (reason) => this.changed(reason));
    this.report = new TickReporter((level, kind, message, data) => this.log(level, kind, message, data), config.agent.name);
    const appFetch = deps.fetch ?? createAppFetch(config.publicUrl, config.agent.internalUrl);
    this.model = deps.model ?? selectModel(config);
    this.profile = deps.profile ?? createIdentityServerProfile(config, { clientSecret: deps.clientSecret, fetch: appFetch });
    this.tokens = new AgentTokenSource(this.profile, { onToken: (token, renewed) => this.onAgentToken(token, renewed) });
    this.standing = new StandingMandate(
      this.profile,
      new MandateGrantVault(deps.db, config.agent.id),
      deps.db,
      config.agent.id,
      (level, message, data) => this.log(level, "agent.mandate", message, data),
      async (mandateId) => {
        await deps.onMandateLost?.(mandateId);
        this.changed("standing-mandate");
      },
    );
    this.mcp =
      deps.mcpClient?.(this.tokens) ??
      new AgentMcpClient({
        url: config.mcp.resourceUrl,
        fetch: appFetch,
        readToken: () => this.tokens.current(),
        onUnauthorized: async () => void (await this.tokens.renew()),
      });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.store.load();
    const revocation = await readAgentRevocation(this.deps.db, this.deps.config.agent.id);
    if (revocation?.status === "revoked") {
      // Revoked before this start (or the app stopped mid-revocation): no token, no tick.
      this.revokedReason = revocation.reason;
      await this.log("warn", "agent.start", `${this.deps.config.agent.name} stays stopped: its access was revoked (${revocation.reason}). Re-enable it from the dashboard.`);
      return;
    }
    this.paused = await readPaused(this.deps.db, this.deps.config);
    this.mandate = await readMandate(this.deps.db, this.deps.config);
    await this.standing.restore();
    await this.recoverInterruptedWork();
    const { config } = this.deps;
    await this.log("info", "agent.start", `${config.agent.name} started (${this.paused ? "paused" : this.state.state}): model ${this.model.label}, identity ${config.auth.provider}, broker ${config.mcp.resourceUrl}`, {
      model: this.model.label,
      state: this.state.state,
    });
    this.timer = setInterval(() => void this.tick(), this.deps.tickMs ?? config.market.tickMs);
    this.timer.unref?.();
    if (this.deps.priceStream && this.mcp.watch) {
      this.priceWatch = this.mcp.watch(priceResourceUri(config.market.symbol), {
        onUpdate: () => this.onPriceUpdate(),
        onState: (live, reason) => void this.onPriceStream(live, reason),
      });
    }
    void this.tick();
  }

  /**
   * Asks Alice for a standing mandate with CIBA (the agent's token as actor_token), then polls for
   * her decision in the background: `settled` is called with null once the grant is held, or with
   * the reason it is not. Rejects (nothing pending) when the server refuses the request or cannot
   * issue mandates at all.
   */
  async requestStandingMandate(mandate: StockTradeMandateDetail, settled: (problem: string | null) => Promise<void>): Promise<{ authReqId: string }> {
    const mandates = this.profile.mandates;
    if (!mandates) throw new ProtocolError("unsupported_authorization_details", `${this.profile.name} cannot issue a standing mandate; every trade needs an approval.`, { status: 400 });
    const actor = await this.tokens.current();
    const ack = await mandates.start({
      mandate,
      bindingMessage: mandateBindingMessage(mandate),
      actorToken: actor.accessToken,
      requestedExpirySeconds: this.deps.config.agent.approvalExpirySeconds,
    });
    await this.log("info", "agent.mandate", `Standing mandate ${mandate.mandate_id} asked of ${this.deps.config.investor.name}: ${mandate.symbol}, up to ${mandate.max_per_trade} USD per trade and ${mandate.max_per_day} USD per day, until ${mandate.expires_at}.`);
    void pollUntilDecided(startPollState(ack, this.now()), { poll: (id) => this.profile.pollCiba(id), now: this.now, sleep: this.deps.sleep })
      .then(async (final) => {
        const problem = final.kind === "approved" ? await this.standing.accept(mandate, final.token) : `${final.kind}: ${final.error}`;
        await this.log(problem ? "warn" : "success", "agent.mandate", problem ? `Standing mandate ${mandate.mandate_id} not held: ${problem}.` : `Standing mandate ${mandate.mandate_id} granted by ${this.deps.config.investor.name}.`);
        await settled(problem ?? null);
      })
      .catch(async (error: unknown) => settled(`polling failed: ${error instanceof Error ? error.message : "unknown error"}`));
    return { authReqId: ack.authReqId };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.timer);
    await this.priceWatch?.close();
    this.priceWatch = undefined;
    await this.abortWork();
    await this.store.flushed();
    await this.mcp.close();
    this.tokens.clear();
  }

  /** One tick: token, price, and (maybe) a new unit of work. A tick in flight is joined, not repeated. */
  tick(): Promise<void> {
    if (this.tickRun) return this.tickRun;
    if (!this.running || this.paused || this.revokedReason !== undefined || Date.now() < this.report.retryAt) return Promise.resolve();
    this.tickRun = this.tickOnce().finally(() => {
      this.tickRun = undefined;
      if (this.tickAgain) {
        this.tickAgain = false;
        void this.tick();
      }
    });
    return this.tickRun;
  }

  private async tickOnce(): Promise<void> {
    const resets = this.resets;
    // Reset while this tick ran: the price it read may be the market's before the reset.
    const outdated = () => {
      if (resets === this.resets) return false;
      this.tickAgain = true;
      return true;
    };
    try {
      await this.tokens.current();
    } catch (error) {
      // A tick cut short by stop() is no outage.
      if (this.running) await this.report.failed(error, "could not obtain its agent token");
      return;
    }
    try {
      const quote = await this.mcp.getPrice(this.deps.config.market.symbol);
      this.report.succeeded();
      if (this.priceWatch && !this.priceWatch.connected) this.priceWatch.retryNow();
      if (outdated()) return;
      if (this.pricesFrom && quote.at < this.pricesFrom.at && Date.now() < this.pricesFrom.until) return;
      this.lastQuote = quote;
      const mandate = await this.mandateInForce();
      await this.report.price(quote, mandate);
      if (outdated()) return;
      await this.settleIfRested(quote, mandate);
      if (outdated()) return;
      this.maybeStartWork(quote, mandate);
    } catch (error) {
      if (this.running) await this.report.failed(error, "could not read the price");
    }
  }

  /** Resolves when no unit of work is running (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.work) await this.work;
  }

  async pause(): Promise<void> {
    await writePaused(this.deps.db, this.deps.config, true);
    await this.pauseHere(() => this.log("warn", "agent.paused", pausedLine(this.deps.config)));
  }

  async resume(): Promise<void> {
    await this.resumeHere(async () => {
      await writePaused(this.deps.db, this.deps.config, false);
      await this.log("info", "agent.resumed", resumedLine(this.deps.config, this.state.state));
    });
  }

  /**
   * The kill switch, in this process: no more ticks, the unit of work in flight is aborted, the
   * tokens are forgotten, and the state says why. Stays so until a new Agent is started with fresh
   * credentials (lib/kill-switch re-enables through the runtime). Safe to call twice.
   */
  async revoke(reason: string): Promise<void> {
    if (this.revokedReason !== undefined) return;
    this.revokedReason = reason;
    clearInterval(this.timer);
    this.timer = undefined;
    // Its price stream was opened with a token that is now refused: close it, do not reconnect.
    await this.priceWatch?.close();
    this.priceWatch = undefined;
    await this.abortWork();
    await this.tickRun?.catch(() => undefined);
    this.tokens.clear();
    await this.standing.forget();
    this.lastQuote = undefined;
    await this.transition("reset", { reason: `Access revoked: ${reason}`, cooldownUntil: null, agentTokenClaims: null, oboTokenClaims: null });
    this.changed("revoked");
  }

  get revoked(): boolean {
    return this.revokedReason !== undefined;
  }

  async updateMandate(m: { thresholdCents: number; budgetCents: number }): Promise<Mandate> {
    await writeMandate(this.deps.db, this.deps.config, m);
    await this.log("info", "agent.mandate", mandateLine(this.deps.config, m));
    return this.mandateChanged();
  }

  /**
   * A control made on another instance (agent-control event): the setting is in the store and its
   * activity line written; this instance, which runs the agent, applies it. The runtime handles
   * "reenable" (a new Agent) and "grant-mandate" (lib/delegation) itself.
   */
  async follow(command: AgentCommand, mandateId?: string, marketAt?: string): Promise<void> {
    if (!this.running) return;
    switch (command) {
      case "revoke": {
        // The kill switch pulled on another instance: the record in the store says why.
        const record = await readAgentRevocation(this.deps.db, this.deps.config.agent.id);
        if (record?.status === "revoked") await this.revoke(record.reason);
        return;
      }
      case "forget-mandate":
        // Alice revoked it on another instance: the record and the sealed hold are gone already.
        if (mandateId) await this.standing.forget(mandateId);
        return;
      case "pause":
      case "resume":
        // The store's value, not the command's: a control pressed here since then may have changed it.
        return (await readPaused(this.deps.db, this.deps.config)) ? this.pauseHere() : this.resumeHere();
      case "mandate":
        this.mandate = undefined;
        await this.mandateChanged();
        return;
      case "reset":
        return this.reset(marketAt);
    }
  }

  /** `record` stores and logs the pause where this instance made it. */
  private async pauseHere(record?: () => Promise<void>): Promise<void> {
    this.paused = true;
    // A pending approval stays stored; polling resumes with the agent.
    await this.abortWork();
    await record?.();
    this.changed("paused");
  }

  private async resumeHere(record?: () => Promise<void>): Promise<void> {
    // The pause may have stopped a proposal or a trade mid-step; nothing runs while paused.
    if (this.running && this.paused && !this.work) await this.recoverInterruptedWork();
    this.paused = false;
    this.report.retryAt = 0;
    await record?.();
    this.changed("resumed");
    void this.tick();
  }

  private async mandateChanged(): Promise<Mandate> {
    const mandate = await readMandate(this.deps.db, this.deps.config);
    this.mandate = mandate;
    this.report.forgetSide();
    this.changed("mandate");
    return mandate;
  }

  /**
   * Demo reset: open orders and approvals are cancelled, the agent watches again from scratch.
   * `marketAt`: when the market was reset (its reset tick); prices read from before are ignored.
   */
  async reset(marketAt?: string): Promise<void> {
    this.resets += 1;
    if (marketAt !== undefined) this.pricesFrom = { at: marketAt, until: Date.now() + RESET_PRICE_GRACE_MS };
    this.lastQuote = undefined;
    await this.abortWork();
    const cancelled = await cancelOpenWork(this.deps.db, "cancelled by a demo reset", this.deps.config.investor.userId);
    await this.transition("reset", { orderId: null, reason: null, cooldownUntil: null, armed: true, oboTokenClaims: null });
    this.report.forgetSide();
    if (cancelled) console.log(`[agent] reset: ${cancelled} open order(s) cancelled`);
  }

  async view(): Promise<AgentView> {
    return buildView({
      db: this.deps.db,
      config: this.deps.config,
      row: this.state,
      mandate: await this.mandateInForce(),
      paused: this.paused,
      running: this.running,
      model: this.model,
      lastQuote: this.lastQuote,
      now: this.now(),
    });
  }

  // --- work -------------------------------------------------------------------------------------

  private maybeStartWork(quote: Quote, mandate: Mandate): void {
    if (this.work) return;
    const s = this.state;
    if (s.state === "AWAITING_APPROVAL" && s.orderId) {
      const orderId = s.orderId;
      this.startWork(async (ctx) => {
        const approval = await findApprovalForOrder(this.deps.db, orderId);
        if (approval?.status !== "pending") {
          await recoverFromLedger(ctx, "restart");
          return;
        }
        const order = (await getOrder(this.deps.db, orderId))?.detail;
        if (!order) {
          const reason = "the order of the pending approval is missing";
          await finish(ctx, { event: "approval_failed", reason, authReqId: approval.authReqId, approvalStatus: "failed", line: { level: "error", kind: "agent.failed", message: `No trade: ${reason}.` } });
          return;
        }
        await awaitApprovalAndTrade(ctx, approval, order);
        await this.disarmIfResumedRequestFailed(ctx, orderId);
      });
      return;
    }
    if (s.state !== "MONITORING" || !s.armed) return;
    if (quote.priceCents >= mandate.thresholdCents) return;
    if (s.cooldownUntil && this.now() < s.cooldownUntil) return;
    this.startWork((ctx) => runFlow(ctx, quote, mandate));
  }

  private startWork(run: (ctx: AgentContext) => Promise<void>): void {
    const abort = new AbortController();
    this.workAbort = abort;
    const ctx = this.context(abort.signal);
    this.work = run(ctx)
      .catch(async (error: unknown) => {
        if (abort.signal.aborted) return;
        console.error("[agent] unexpected failure:", error instanceof Error ? error.message : error);
        await this.failUnexpectedly(error).catch(() => undefined);
      })
      .finally(() => {
        if (this.workAbort === abort) {
          this.work = undefined;
          this.workAbort = undefined;
        }
      });
  }

  private async abortWork(): Promise<void> {
    const work = this.work;
    this.workAbort?.abort(new DOMException("the agent's work was stopped", "AbortError"));
    if (work) await Promise.race([work, new Promise((r) => setTimeout(r, 5000))]);
    this.work = undefined;
    this.workAbort = undefined;
  }

  /**
   * A bug or an unforeseen error in a step: no trade, FAILED, cooldown. An order that traded is
   * left alone (the ledger check before settling records it); an error while EXECUTING may have
   * come after the broker call, so the agent does not ask again during this fall.
   */
  private async failUnexpectedly(error: unknown): Promise<void> {
    const reason = `unexpected error: ${error instanceof Error ? error.message.slice(0, 200) : "unknown"}`;
    const { state, orderId } = this.state;
    const event: AgentEvent | undefined = state === "PROPOSING" || state === "EXECUTING" ? "interrupted" : state === "AWAITING_APPROVAL" ? "approval_failed" : undefined;
    if (!event) {
      await this.log("error", "agent.failed", `No trade: ${reason}.`);
      return;
    }
    const ending = orderId ? failed({ order_id: orderId }, event, reason) : { event, reason, line: { level: "error" as const, kind: "agent.failed", message: `No trade: ${reason}.` } };
    await finish(this.context(new AbortController().signal), { ...ending, disarm: state === "EXECUTING" });
  }

  /** After a restart (or a pause that stopped a step): the store, not memory, says what happened. */
  private async recoverInterruptedWork(): Promise<void> {
    await recoverFromLedger(this.context(new AbortController().signal), "restart");
  }

  /**
   * A request polled again after a restart or a pause that the identity server ends with an error
   * may have been redeemed by the poll that was cut off (an auth_req_id is single-use): Alice may
   * have approved it already, so she is not asked again during this fall.
   */
  private async disarmIfResumedRequestFailed(ctx: AgentContext, orderId: string): Promise<void> {
    const approval = await findApprovalForOrder(this.deps.db, orderId);
    if (approval?.status !== "failed" || this.state.state !== "FAILED" || !this.state.armed) return;
    await ctx.patch({ armed: false });
    await this.log("warn", "agent.disarmed", `The resumed approval request for order ${orderId} ended with an error; it may have been approved before the interruption, so ${this.deps.config.investor.name} is not asked again until the price is back above the threshold.`, { orderId });
  }

  /** DONE / DENIED / EXPIRED / FAILED rest until the agent may act again, then MONITORING. */
  private async settleIfRested(quote: Quote, mandate: Mandate): Promise<void> {
    const s = this.state;
    if (!s.armed && quote.priceCents >= mandate.thresholdCents) {
      await this.patch({ armed: true });
      await this.log("info", "agent.rearmed", `${quote.symbol} is back at ${formatMoney(quote.priceCents)} USD: the agent will consider a buy at the next fall below ${formatMoney(mandate.thresholdCents)} USD.`);
    }
    if (!isTerminal(s.state) || this.work) return;
    const coolingDown = this.state.cooldownUntil !== null && this.now() < this.state.cooldownUntil;
    if (coolingDown) return;
    // A failed trade whose answer was lost may still have executed: the ledger decides, once per
    // failed order (also when the agent is disarmed for this fall).
    if (this.state.state === "FAILED" && this.state.orderId && this.ledgerCheckedFor !== this.state.orderId) {
      this.ledgerCheckedFor = this.state.orderId;
      const plan = await recoverFromLedger(this.context(new AbortController().signal), "settle");
      if (plan.action === "record_trade") return;
    }
    if (!this.state.armed) return;
    await this.transition("settled");
  }

  /** The broker announced a new price: check it now, or right after the check in flight (which may have read the old one). */
  private onPriceUpdate(): void {
    if (this.tickRun) this.tickAgain = true;
    else void this.tick();
  }

  private async onPriceStream(live: boolean, reason?: string): Promise<void> {
    if (live) await this.log("debug", "agent.price_stream", "Subscribed to the price: the agent checks it on every market tick.");
    else await this.log("warn", "agent.price_stream", `The price subscription was lost (${reason ?? "unknown"}); checking every ${Math.round((this.deps.tickMs ?? this.deps.config.market.tickMs) / 1000)} s until it is back.`);
  }

  // --- tokens -----------------------------------------------------------------------------------

  private async onAgentToken(token: TokenResult, renewed: boolean): Promise<void> {
    this.priceWatch?.retryNow();
    await this.patch({ agentTokenClaims: token.claims });
    const scope = token.scopes.join(" ");
    await this.log(
      renewed ? "debug" : "success",
      "agent.token",
      `${renewed ? "Agent token renewed" : "Agent token obtained"}, scope ${scope}: sub ${token.claims.sub ?? "?"}, audience ${[token.claims.aud ?? "?"].flat().join(" ")}, expires ${time(token.expiresAt.toISOString())}`,
      { sub: token.claims.sub ?? null, scope, renewed },
    );
  }

  // --- state ------------------------------------------------------------------------------------

  private context(signal: AbortSignal): AgentContext {
    return {
      config: this.deps.config,
      db: this.deps.db,
      profile: this.profile,
      tokens: this.tokens,
      standing: this.standing,
      mcp: this.mcp,
      model: this.model,
      signal,
      now: this.now,
      sleep: this.deps.sleep,
      onDecided: (authReqId, listener) => this.deps.bus.subscribe("ciba-decided", (event) => event.authReqId === authReqId && listener()),
      row: () => this.state,
      transition: (event, patch) => {
        signal.throwIfAborted();
        return this.transition(event, patch);
      },
      patch: (patch) => {
        signal.throwIfAborted();
        return this.patch(patch);
      },
      log: (level, kind, message, data) => this.log(level, kind, message, data),
      changed: (reason) => this.changed(reason),
    };
  }

  private transition(event: AgentEvent, patch: AgentPatch = {}): Promise<AgentRow> {
    return this.store.transition(event, patch);
  }

  private patch(patch: AgentPatch): Promise<AgentRow> {
    return this.store.patch(patch);
  }

  private get state(): AgentRow {
    return this.store.current;
  }

  /** The mandate kept in memory; read from the store only when start() has not loaded it yet. */
  private async mandateInForce(): Promise<MandateInForce> {
    if (!this.mandate) {
      const stored = await readMandate(this.deps.db, this.deps.config);
      this.mandate ??= stored;
    }
    return this.mandate;
  }

  private cooldownUntil(): Date {
    return cooldown({ now: this.now, config: this.deps.config });
  }

  private async log(level: ActivityLevel, kind: string, message: string, data?: Record<string, unknown>): Promise<void> {
    await this.deps.activity.add({ level, kind, message, data }).catch((e: unknown) => console.error("[agent] activity entry failed:", e instanceof Error ? e.message : e));
  }

  private changed(reason: string): void {
    this.deps.bus.publish("agent", { reason, userSub: this.deps.config.investor.userId });
  }
}
