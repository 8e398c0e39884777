import "server-only";
import type { Queryable } from "../store/db";

/**
 * What a standing mandate has spent per UTC day (table mandate_spend). `addMandateSpend` runs inside
 * the trade's transaction after the mandate row has been locked (lib/store/standing-mandates.ts lockMandate),
 * so two concurrent trades under one mandate take turns: the second one reads the first one's
 * spend and cannot squeeze under the daily cap beside it.
 */

export async function mandateSpentOn(db: Queryable, mandateId: string, day: string): Promise<number> {
  const rows = await db.query<{ spent_cents: number | string }>("SELECT spent_cents FROM mandate_spend WHERE mandate_id = $1 AND day = $2", [mandateId, day]);
  return rows[0] ? Number(rows[0].spent_cents) : 0;
}

export async function addMandateSpend(tx: Queryable, mandateId: string, day: string, cents: number): Promise<void> {
  await tx.query(
    `INSERT INTO mandate_spend (mandate_id, day, spent_cents, trades) VALUES ($1, $2, $3, 1)
     ON CONFLICT (mandate_id, day) DO UPDATE SET spent_cents = mandate_spend.spent_cents + $3, trades = mandate_spend.trades + 1`,
    [mandateId, day, cents],
  );
}
