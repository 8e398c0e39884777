import "server-only";
import { agentControls } from "./agent/control";
import { readMandate } from "./agent/settings";
import { formatMoney } from "./money";
import { ensurePortfolio, getPortfolio } from "./ledger/portfolio";
import { listTrades } from "./ledger/trades";
import { pricesAt } from "./market/simulator";
import type { InvestorScope, Runtime } from "./runtime";
import type { ActivityEntry, MarketSnapshot, MarketTick, Portfolio, Trade } from "./types";

/** The demo controls and the dashboard's initial state. */

export type DemoAction = "crash" | "stabilize" | "reset";

/** `me`: the signed-in investor's side, for a reset (hers alone); crash and stabilize are public. */
export async function runDemoAction(rt: Runtime, action: DemoAction, me?: InvestorScope): Promise<MarketSnapshot> {
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
      if (!me) throw new Error("a reset is an investor's");
      return resetDemo(rt, me);
  }
}

/**
 * Clears one investor's ledger and activity back to the configured initial values, and the
 * shared market. Other investors' trades, holdings and activity stay as they are.
 */
async function resetDemo(rt: Runtime, me: InvestorScope): Promise<MarketSnapshot> {
  const { investor } = me.config;
  // The market first: her agent, reset next, must not read the fallen price again and act on it.
  const snapshot = await rt.market.reset();
  // Her open orders and approvals are cancelled; her agent watches again from MONITORING.
  if (rt.config.agent.enabled) await agentControls(me).reset(snapshot.at);
  await rt.db.transaction(async (tx) => {
    await tx.query("DELETE FROM trades WHERE user_sub = $1", [investor.userId]);
    await tx.query("DELETE FROM holdings WHERE user_sub = $1", [investor.userId]);
    await tx.query("DELETE FROM portfolios WHERE user_sub = $1", [investor.userId]);
    await me.activity.clear(tx);
    await ensurePortfolio(tx, investor.userId, investor.name, investor.initialBalanceCents);
  });
  rt.bus.publish("ledger", { reason: "reset", userSub: investor.userId });
  await me.activity.add({
    level: "info",
    kind: "demo.reset",
    message: `Demo reset: ${investor.name} has ${formatMoney(investor.initialBalanceCents)} USD cash, ${snapshot.symbol} at ${formatMoney(snapshot.priceCents)} USD`,
  });
  return snapshot;
}

export interface DashboardState {
  market: MarketSnapshot;
  history: MarketTick[];
  /** Whether the browser asking is signed in as an investor: without it, investors' data is left out. */
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
 * activity and mandate of the signed-in investor only (`me`, from her session), else none.
 */
export async function getDashboardState(rt: Runtime, me: InvestorScope | undefined): Promise<DashboardState> {
  const market = rt.market.snapshot();
  const signedIn = me !== undefined;
  const { investor, agent } = (me ?? rt).config;
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
  if (!me) return { ...common, thresholdCents: null, portfolio: null, trades: [], activity: [] };
  const [portfolio, trades, activity, mandate] = await Promise.all([
    getPortfolio(rt.db, investor.userId, pricesAt(market)),
    listTrades(rt.db, { userSub: investor.userId, limit: 50 }),
    me.activity.list(),
    readMandate(rt.db, me.config),
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
