/**
 * The sequence view's data: the parties of an approval flow as lanes and each message between them,
 * decoded. What a browser receives from GET /api/sequence; it never carries a token, only the
 * claims and identifiers the audit chain and the order records already hold.
 */
export const PARTIES = ["agent", "mcp", "as", "mailbox", "user"] as const;
export type Party = (typeof PARTIES)[number];

export interface PartyView {
  id: Party;
  name: string;
  role: string;
}

/** The specification section a message follows. */
export interface SpecRef {
  label: string;
  href: string;
}

/** One decoded fact of a message: a parameter, a claim, an answer. */
export interface MessageField {
  name: string;
  value: string;
}

export type MessageTone = "request" | "ok" | "refused" | "pending" | "note";

export interface SequenceMessage {
  /** What the message is, stable across runs: `challenge`, `ciba_request`, `token_response`… */
  kind: string;
  /** 1-based position in the flow. */
  step: number;
  from: Party;
  to: Party;
  /** ISO 8601; when the record that proves the message was written. */
  at: string;
  label: string;
  fields: MessageField[];
  specs: SpecRef[];
  tone: MessageTone;
}

/** How an order's flow ended, or that it has not yet. */
export type SequenceOutcome = "in_progress" | "executed" | "denied" | "expired" | "failed" | "cancelled";

export interface OrderSequence {
  orderId: string;
  /** "buy 38 NVDA, limit 131.20 USD" */
  title: string;
  outcome: SequenceOutcome;
  /** One sentence on how it ended (null while in progress). */
  ending: string | null;
  createdAt: string;
  messages: SequenceMessage[];
}

export interface OrderSummary {
  orderId: string;
  title: string;
  createdAt: string;
  outcome: SequenceOutcome;
}

/** GET /api/sequence: the recent orders (newest first) and the sequence of the one asked for, or of the newest. */
export interface SequenceResponse {
  parties: PartyView[];
  orders: OrderSummary[];
  sequence: OrderSequence | null;
}
