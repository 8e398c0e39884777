import "server-only";
import type { AppConfig } from "../config";
import type { Queryable } from "../store/db";
import type { Mandate } from "./mandate";

/**
 * The agent's settings in the `settings` table: paused or not, and the investor's edits of the
 * mandate (threshold, budget) over the configured defaults. Both survive a restart. Each
 * investor's agent has its own (`config.investor` is she, lib/config.ts configFor).
 */
const PAUSED = "agent.paused";
const MANDATE = "agent.mandate";

/**
 * The key of one investor's agent in the store (agent_state, settings, controls): the agent's
 * id for the first investor (as before there were several), `agent id:user id` for the others.
 */
export function agentKey(config: Pick<AppConfig, "agent" | "investor" | "investors">): string {
  return config.investor.userId === config.investors[0]?.userId ? config.agent.id : `${config.agent.id}:${config.investor.userId}`;
}

const keyOf = (name: string, config: Pick<AppConfig, "agent" | "investor" | "investors">) => {
  const key = agentKey(config);
  return key === config.agent.id ? name : `${name}:${config.investor.userId}`;
};

async function read<T>(db: Queryable, key: string): Promise<T | undefined> {
  const [row] = await db.query<{ value: T }>("SELECT value FROM settings WHERE key = $1", [key]);
  return row?.value;
}

async function write(db: Queryable, key: string, value: unknown): Promise<void> {
  await db.query(
    `INSERT INTO settings (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [key, JSON.stringify(value)],
  );
}

export async function readPaused(db: Queryable, config: AppConfig): Promise<boolean> {
  return (await read<boolean>(db, keyOf(PAUSED, config))) === true;
}

export async function writePaused(db: Queryable, config: AppConfig, paused: boolean): Promise<void> {
  await write(db, keyOf(PAUSED, config), paused);
}

export interface StoredMandate {
  thresholdCents?: number;
  budgetCents?: number;
}

export type MandateInForce = Mandate & { edited: boolean };

/** The mandate in force, read from the store: the configuration, with Alice's edits on top. */
export async function readMandate(db: Queryable, config: AppConfig): Promise<MandateInForce> {
  return mandateFrom((await read<StoredMandate>(db, keyOf(MANDATE, config))) ?? {}, config);
}

/** The mandate in force for stored edits: the configuration, with Alice's valid edits on top. */
export function mandateFrom(stored: StoredMandate, config: AppConfig): MandateInForce {
  const valid = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0;
  return {
    symbol: config.market.symbol,
    thresholdCents: valid(stored.thresholdCents) ? stored.thresholdCents : config.mandate.thresholdCents,
    budgetCents: valid(stored.budgetCents) ? stored.budgetCents : config.mandate.tradeAmountCents,
    maxQuantity: config.mandate.maxQuantity,
    edited: valid(stored.thresholdCents) || valid(stored.budgetCents),
  };
}

export async function writeMandate(db: Queryable, config: AppConfig, mandate: { thresholdCents: number; budgetCents: number }): Promise<void> {
  await write(db, keyOf(MANDATE, config), { thresholdCents: mandate.thresholdCents, budgetCents: mandate.budgetCents });
}
