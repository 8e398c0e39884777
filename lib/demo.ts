import "server-only";
import { agentControls } from "./agent/control";
import { readMandate } from "./agent/settings";
import { formatMoney } from "./money";
import { ensurePortfolio, getPortfolio } from "./ledger/portfolio";
import { listTrades } from "./ledger/trades";
import { pricesAt } from "./market/simulator";
import type { Runtime } from "./runtime";
import type { ActivityEntry, MarketSnapshot, MarketTick, Portfolio, Trade } from "./types";

/** The demo controls and the dashboard's initial state. */

export type DemoAction = "crash" | "stabilize" | "reset";

export async function runDemoAction(rt: Runtime, action: DemoAction): Promise<MarketSnapshot> {
  switch (action) {
    case "crash": {
      const snapshot = await rt.market.crash();
      await rt.activity.add({
        level: "warn",
        kind: "market.crash",
        message: `Market crash triggered: ${snapshot.symbol} is falling from ${formatMoney(snapshot.priceCents)} USD`,
      });
      return snapshot;
    }
    case "stabilize": {
      const snapshot = await rt.market.stabilize();
      await rt.activity.add({
        level: "info",
        kind: "market.stabilize",
        message: `Market stabilized: ${snapshot.symbol} holds at ${formatMoney(snapshot.priceCents)} USD`,
      });
      return snapshot;
    }
    case "reset":
      return resetDemo(rt);
  }
}

/** Clears the ledger, the activity log and the market back to the configured initial values. */
async function resetDemo(rt: Runtime): Promise<MarketSnapshot> {
  const { investor } = rt.config;
  // Open orders and approvals are cancelled; the agent watches again from MONITORING.
  if (rt.config.agent.enabled) await agentControls(rt).reset();
  await rt.db.transaction(async (tx) => {
    await tx.query("DELETE FROM trades");
    await tx.query("DELETE FROM holdings");
    await tx.query("DELETE FROM portfolios");
    await rt.activity.clear(tx);
    await ensurePortfolio(tx, investor.userId, investor.name, investor.initialBalanceCents);
  });
  const snapshot = await rt.market.reset();
  rt.bus.publish("ledger", { reason: "reset" });
  await rt.activity.add({
    level: "info",
    kind: "demo.reset",
    message: `Demo reset: ${investor.name} has ${formatMoney(investor.initialBalanceCents)} USD cash, ${snapshot.symbol} at ${formatMoney(snapshot.priceCents)} USD`,
  });
  return snapshot;
}

export interface DashboardState {
  market: MarketSnapshot;
  history: MarketTick[];
  /** Whether the browser asking is signed in as the investor: without it, her data is left out. */
  signedIn: boolean;
  /** False when no dashboard client is configured at the identity server: nobody can sign in. */
  signInAvailable: boolean;
  /** The mandate's buy threshold: hers, so null when signed out. */
  thresholdCents: number | null;
  portfolio: Portfolio | null;
  trades: Trade[];
  activity: ActivityEntry[];
  investor: { name: string; email: string; userId: string };
  agent: { id: string; name: string };
  authProvider: string;
  serverTime: string;
}

/**
 * The dashboard's state for one browser: the public market for anyone; the portfolio, trades,
 * activity and mandate only when `signedIn` (the caller checked her session).
 */
export async function getDashboardState(rt: Runtime, signedIn: boolean): Promise<DashboardState> {
  const market = rt.market.snapshot();
  const { investor, agent } = rt.config;
  const common = {
    market,
    history: rt.market.history(),
    signedIn,
    signInAvailable: rt.signIn.available,
    investor: { name: investor.name, email: investor.email, userId: investor.userId },
    agent: { id: agent.id, name: agent.name },
    authProvider: rt.config.auth.provider,
    serverTime: new Date().toISOString(),
  };
  if (!signedIn) return { ...common, thresholdCents: null, portfolio: null, trades: [], activity: [] };
  const [portfolio, trades, activity, mandate] = await Promise.all([
    getPortfolio(rt.db, investor.userId, pricesAt(market)),
    listTrades(rt.db, { userSub: investor.userId, limit: 50 }),
    rt.activity.list(),
    readMandate(rt.db, rt.config),
  ]);
  return {
    ...common,
    // The mandate in force: Alice may have edited the threshold on the dashboard.
    thresholdCents: mandate.thresholdCents,
    portfolio,
    trades,
    activity,
  };
}
