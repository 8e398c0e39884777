import "server-only";
import type { Queryable } from "../store/db";
import type { Holding, Portfolio } from "../types";

/** Portfolios are keyed by the user's `sub` as the identity server issues it. */

export async function ensurePortfolio(
  db: Queryable,
  userSub: string,
  displayName: string,
  initialCashCents: number,
): Promise<void> {
  await db.query(
    `INSERT INTO portfolios (user_sub, display_name, cash_cents, initial_cash_cents)
     VALUES ($1, $2, $3, $3) ON CONFLICT (user_sub) DO NOTHING`,
    [userSub, displayName, initialCashCents],
  );
}

/** The portfolio of `userSub` valued at the given prices, or null when the user has none. */
export async function getPortfolio(
  db: Queryable,
  userSub: string,
  priceOf: (symbol: string) => number | undefined,
): Promise<Portfolio | null> {
  const [row] = await db.query<{ display_name: string; cash_cents: number; initial_cash_cents: number }>(
    "SELECT display_name, cash_cents, initial_cash_cents FROM portfolios WHERE user_sub = $1",
    [userSub],
  );
  if (!row) return null;
  const rows = await db.query<{ symbol: string; quantity: number; cost_cents: number }>(
    "SELECT symbol, quantity, cost_cents FROM holdings WHERE user_sub = $1 AND quantity > 0 ORDER BY symbol",
    [userSub],
  );
  const holdings: Holding[] = rows.map((h) => {
    const price = priceOf(h.symbol) ?? Math.round(h.cost_cents / h.quantity);
    const valueCents = price * h.quantity;
    return {
      symbol: h.symbol,
      quantity: h.quantity,
      costCents: h.cost_cents,
      averageCostCents: Math.round(h.cost_cents / h.quantity),
      valueCents,
      pnlCents: valueCents - h.cost_cents,
    };
  });
  const holdingsValueCents = holdings.reduce((sum, h) => sum + h.valueCents, 0);
  const totalValueCents = row.cash_cents + holdingsValueCents;
  return {
    userSub,
    displayName: row.display_name,
    cashCents: row.cash_cents,
    initialCashCents: row.initial_cash_cents,
    holdings,
    holdingsValueCents,
    totalValueCents,
    pnlCents: totalValueCents - row.initial_cash_cents,
  };
}
