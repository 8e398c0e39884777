import "server-only";
import { ProtocolError } from "../errors";
import { formatMoney } from "../money";
import type { Db, Queryable } from "../store/db";
import { toTrade, type TradeRow } from "../store/orders";
import type { Trade } from "../types";

export interface TradeInput {
  /** The user the trade is for: the token's `sub`. */
  userSub: string;
  /** The acting agent (`act.sub`, or `azp`/`client_id` for Auth0-style tokens). */
  actorSub: string | null;
  /** The whole `act` chain, kept for audit. */
  actorChain?: unknown;
  clientId?: string | null;
  orderId?: string | null;
  tokenJti?: string | null;
  symbol: string;
  side: "buy" | "sell";
  quantity: number;
  priceCents: number;
  bindingRule?: string | null;
}

/** The ledger's refusal codes; the descriptions are safe to show to the user and the model. */
export type LedgerRefusal = "no_portfolio" | "insufficient_funds" | "insufficient_shares" | "already_executed" | "invalid_trade";

const LEDGER_REFUSALS: ReadonlySet<string> = new Set<LedgerRefusal>(["no_portfolio", "insufficient_funds", "insufficient_shares", "already_executed", "invalid_trade"]);

const ledgerRefusal = (code: LedgerRefusal, description: string) => new ProtocolError(code, description, { status: 409 });

/** True for a trade the ledger refused (nothing was written). */
export function isLedgerRefusal(error: unknown): error is ProtocolError {
  return error instanceof ProtocolError && LEDGER_REFUSALS.has(error.code);
}

/**
 * Executes one trade as one transaction: the trade row, the cash and the holding change together
 * or not at all. `order_id` and `token_jti` are unique in the trades table and in
 * spent_authorizations (which a demo reset keeps), so an order or a token can execute at most
 * once, also under concurrent calls and across resets. `steps.before` runs first inside
 * the transaction and may refuse by throwing (e.g. the order's authorization, read with a row
 * lock so that nothing can close it between the check and the trade); `steps.after` runs last
 * (e.g. the audit record of the decision).
 */
export interface TradeSteps {
  before?: (tx: Queryable) => Promise<void>;
  after?: (tx: Queryable, trade: Trade) => Promise<void>;
}

export async function executeTrade(db: Db, input: TradeInput, steps: TradeSteps = {}): Promise<Trade> {
  if (!Number.isSafeInteger(input.quantity) || input.quantity <= 0) {
    throw ledgerRefusal("invalid_trade", "Quantity must be a positive whole number.");
  }
  if (!Number.isSafeInteger(input.priceCents) || input.priceCents <= 0) {
    throw ledgerRefusal("invalid_trade", "The execution price must be positive.");
  }
  const notional = input.priceCents * input.quantity;
  try {
    return await db.transaction(async (tx) => {
      if (steps.before) await steps.before(tx);
      const [portfolio] = await tx.query<{ cash_cents: number }>(
        "SELECT cash_cents FROM portfolios WHERE user_sub = $1 FOR UPDATE",
        [input.userSub],
      );
      if (!portfolio) throw ledgerRefusal("no_portfolio", `No portfolio exists for user ${input.userSub}.`);
      const [trade] = await tx.query<TradeRow>(
        `INSERT INTO trades (user_sub, actor_sub, actor_chain, client_id, order_id, token_jti, symbol, side,
                             quantity, price_cents, notional_cents, binding_rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
        [
          input.userSub,
          input.actorSub,
          input.actorChain === undefined ? null : JSON.stringify(input.actorChain),
          input.clientId ?? null,
          input.orderId ?? null,
          input.tokenJti ?? null,
          input.symbol,
          input.side,
          input.quantity,
          input.priceCents,
          notional,
          input.bindingRule ?? null,
        ],
      );
      // Single use that outlives a demo reset (which empties trades): spent_authorizations.
      if (input.orderId || input.tokenJti) {
        await tx.query("INSERT INTO spent_authorizations (order_id, token_jti) VALUES ($1, $2)", [input.orderId ?? null, input.tokenJti ?? null]);
      }
      if (input.side === "buy") await applyBuy(tx, input, notional, portfolio.cash_cents);
      else await applySell(tx, input, notional);
      const result = toTrade(trade!);
      if (steps.after) await steps.after(tx, result);
      return result;
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw ledgerRefusal("already_executed", "This order or token has already been used for a trade.");
    }
    throw error;
  }
}

async function applyBuy(tx: Queryable, input: TradeInput, notional: number, cash: number): Promise<void> {
  if (cash < notional) {
    throw ledgerRefusal(
      "insufficient_funds",
      `Insufficient cash: the trade needs ${formatMoney(notional)} USD, the account holds ${formatMoney(cash)} USD.`,
    );
  }
  await tx.query("UPDATE portfolios SET cash_cents = cash_cents - $2 WHERE user_sub = $1", [input.userSub, notional]);
  await tx.query(
    `INSERT INTO holdings (user_sub, symbol, quantity, cost_cents) VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_sub, symbol) DO UPDATE
       SET quantity = holdings.quantity + $3, cost_cents = holdings.cost_cents + $4`,
    [input.userSub, input.symbol, input.quantity, notional],
  );
}

async function applySell(tx: Queryable, input: TradeInput, notional: number): Promise<void> {
  const [holding] = await tx.query<{ quantity: number; cost_cents: number }>(
    "SELECT quantity, cost_cents FROM holdings WHERE user_sub = $1 AND symbol = $2 FOR UPDATE",
    [input.userSub, input.symbol],
  );
  const held = holding?.quantity ?? 0;
  if (held < input.quantity) {
    throw ledgerRefusal("insufficient_shares", `Insufficient shares: selling ${input.quantity} ${input.symbol}, holding ${held}.`);
  }
  // The cost basis leaves with the shares in proportion, so the average cost stays the same.
  const costOut = Math.round((holding!.cost_cents * input.quantity) / held);
  await tx.query(
    "UPDATE holdings SET quantity = quantity - $3, cost_cents = cost_cents - $4 WHERE user_sub = $1 AND symbol = $2",
    [input.userSub, input.symbol, input.quantity, costOut],
  );
  await tx.query("UPDATE portfolios SET cash_cents = cash_cents + $2 WHERE user_sub = $1", [input.userSub, notional]);
}

/** Newest first; all users when `userSub` is omitted. */
export async function listTrades(db: Queryable, options: { userSub?: string; limit?: number } = {}): Promise<Trade[]> {
  const limit = options.limit ?? 100;
  const rows = options.userSub
    ? await db.query<TradeRow>("SELECT * FROM trades WHERE user_sub = $1 ORDER BY id DESC LIMIT $2", [options.userSub, limit])
    : await db.query<TradeRow>("SELECT * FROM trades ORDER BY id DESC LIMIT $1", [limit]);
  return rows.map(toTrade);
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "23505";
}
