/** Shapes shared by the server and the dashboard. Amounts are integer cents. */

/** Ticks kept in the store, in memory and on the chart (10 minutes at one tick a second). */
export const HISTORY_LIMIT = 600;

/** Activity entries in the dashboard's snapshot and kept in its live log. */
export const ACTIVITY_LIMIT = 200;

export type MarketStatus = "STABLE" | "CRASHING" | "RECOVERING";

export interface MarketTick {
  at: string;
  priceCents: number;
  status: MarketStatus;
}

export interface MarketSnapshot extends MarketTick {
  symbol: string;
  openCents: number;
  changeCents: number;
  /** Change against the open in percent, two decimals. */
  changePercent: number;
}

export type ActivityLevel = "debug" | "info" | "success" | "warn" | "error";

export interface ActivityEntry {
  id: number;
  at: string;
  level: ActivityLevel;
  kind: string;
  message: string;
  data?: Record<string, unknown> | null;
  /** The investor the entry belongs to; absent: everyone's (the public market). */
  userSub?: string;
}

export interface Holding {
  symbol: string;
  quantity: number;
  costCents: number;
  averageCostCents: number;
  valueCents: number;
  pnlCents: number;
}

export interface Portfolio {
  userSub: string;
  displayName: string;
  cashCents: number;
  initialCashCents: number;
  holdings: Holding[];
  holdingsValueCents: number;
  totalValueCents: number;
  pnlCents: number;
}

export interface Trade {
  id: number;
  at: string;
  userSub: string;
  actorSub: string | null;
  actorChain: unknown;
  clientId: string | null;
  orderId: string | null;
  symbol: string;
  side: "buy" | "sell";
  quantity: number;
  priceCents: number;
  notionalCents: number;
  bindingRule: string | null;
}
