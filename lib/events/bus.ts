import { EventEmitter } from "node:events";
import type { AgentRevocation } from "../store/agent-revocations";
import type { ActivityEntry, MarketSnapshot } from "../types";

/**
 * The in-process event bus. The market, the ledger, the agent and the identity server publish;
 * the SSE stream (/api/events) and the activity log subscribe. Payloads are public data only:
 * never a token, a secret or a request body.
 */
export interface AppEvents {
  tick: MarketSnapshot;
  activity: ActivityEntry;
  /** Something in the ledger changed (trade, reset): clients refetch the portfolio and trades. */
  ledger: { reason: string };
  /** Agent state, approvals or tokens changed: clients refetch /api/agent. */
  agent: { reason: string };
  /** A mail landed in the embedded mailbox. */
  mail: { id: string };
  /**
   * The embedded identity server recorded Alice's decision on a CIBA request: its client may poll
   * now rather than at the next interval. In-process only, never sent to browsers (/api/events
   * forwards a fixed list of events).
   */
  "ciba-decided": { authReqId: string };
  /**
   * The kill switch changed the agent's revocation record (lib/kill-switch), committed: the
   * resource server takes it as its cached copy, so that the agent's next call is checked against
   * it. In-process only.
   */
  "agent-revocation": { record: AgentRevocation };
}

export type AppEventName = keyof AppEvents;

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every open dashboard tab is one listener per event: do not warn at ten.
    this.emitter.setMaxListeners(0);
  }

  publish<K extends AppEventName>(name: K, payload: AppEvents[K]): void {
    this.emitter.emit(name, payload);
  }

  subscribe<K extends AppEventName>(name: K, listener: (payload: AppEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
