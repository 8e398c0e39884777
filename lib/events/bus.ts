import { EventEmitter } from "node:events";
import type { AgentRevocation } from "../store/agent-revocations";
import type { ActivityEntry, MarketSnapshot } from "../types";

/**
 * The in-process event bus. The market, the ledger, the agent and the identity server publish;
 * the SSE stream (/api/events) and the activity log subscribe. Payloads are public data only:
 * never a token, a secret or a request body.
 *
 * With several instances on one PostgreSQL, what one instance publishes reaches the others
 * through the relay (relay.ts, LISTEN/NOTIFY): `publish` hands each event to the relay as well,
 * and the relay hands the other instances' events to `receive`, which delivers them here only.
 */
export interface AppEvents {
  tick: MarketSnapshot;
  activity: ActivityEntry;
  /** Something in the ledger changed (trade, reset): clients refetch the portfolio and trades. */
  ledger: { reason: string; userSub?: string };
  /** Agent state, approvals or tokens changed: clients refetch /api/agent. */
  agent: { reason: string; userSub?: string };
  /** A mail landed in the embedded mailbox (for the investor `userSub`, when it is one of them). */
  mail: { id: string; userSub?: string };
  /**
   * The embedded identity server recorded Alice's decision on a CIBA request: its client may poll
   * now rather than at the next interval. Never sent to browsers (/api/events forwards a fixed
   * list of events).
   */
  "ciba-decided": { authReqId: string };
  /**
   * The kill switch changed the agent's revocation record (lib/kill-switch), committed: the
   * resource server takes it as its cached copy, so that the agent's next call is checked against
   * it. In-process only.
   */
  "agent-revocation": { record: AgentRevocation };
  /**
   * A control of the agent was stored for the instance that runs it (table agent_commands): that
   * instance takes the stored controls now rather than at its next look (lib/runtime.ts).
   */
  "agent-control": { agentId: string; command: AgentCommand };
  /** The market was reset: followers drop their chart history. */
  "market-reset": { symbol: string };
}

export type AgentCommand = "pause" | "resume" | "mandate" | "reset" | "revoke" | "reenable" | "grant-mandate" | "forget-mandate";

export type AppEventName = keyof AppEvents;

type Outbound = <K extends AppEventName>(name: K, payload: AppEvents[K]) => void;

/**
 * Events that stay in the process that published them. A revocation record carries Dates and is
 * a hand-over to this process's resource server; other instances read the record from the store
 * within their cache's lifetime (mcp/revocation.ts).
 */
const LOCAL_ONLY: ReadonlySet<AppEventName> = new Set(["agent-revocation"]);

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly remote = new EventEmitter();
  private outbound: Outbound | undefined;

  constructor() {
    // Every open dashboard tab is one listener per event: do not warn at ten.
    this.emitter.setMaxListeners(0);
    this.remote.setMaxListeners(0);
  }

  /** An event of this instance: its subscribers, then the other instances. */
  publish<K extends AppEventName>(name: K, payload: AppEvents[K]): void {
    this.emitter.emit(name, payload);
    if (!LOCAL_ONLY.has(name)) this.outbound?.(name, payload);
  }

  /** An event of another instance (from the relay): this instance's subscribers only. */
  receive<K extends AppEventName>(name: K, payload: AppEvents[K]): void {
    this.remote.emit(name, payload);
    this.emitter.emit(name, payload);
  }

  subscribe<K extends AppEventName>(name: K, listener: (payload: AppEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /** Only the events other instances published (a follower's market applies the leader's ticks). */
  subscribeRemote<K extends AppEventName>(name: K, listener: (payload: AppEvents[K]) => void): () => void {
    this.remote.on(name, listener);
    return () => this.remote.off(name, listener);
  }

  /** Where published events go besides this process (one relay at most). */
  relayTo(outbound: Outbound | undefined): void {
    this.outbound = outbound;
  }
}
