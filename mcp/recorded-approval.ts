import "server-only";
import type { Queryable } from "../lib/store/db";
import { APPROVAL_USABLE_STATUSES, ORDER_EXECUTABLE_STATUSES, type OrderSide } from "../lib/orders/order";
import type { ApprovedOrder, BindingRefusal } from "./order-binding";

/**
 * The "pending-approval" rule's source of truth, for identity servers that cannot put
 * `authorization_details` into the token (some WSO2 profiles). The order must be recorded in
 * `orders` for the token's subject with a status in ORDER_EXECUTABLE_STATUSES, and a CIBA approval
 * for it must be recorded in `pending_approvals` with a status in APPROVAL_USABLE_STATUSES. The
 * approval's own expiry is not checked: it bounds the CIBA request, not the order; the order's
 * `expires_at` is checked by checkTradeAgainstOrder. Single use comes from the trades table
 * (unique order_id and token jti), as for the "rar" rule.
 */

interface OrderRow {
  order_id: string;
  user_sub: string;
  symbol: string;
  side: OrderSide;
  quantity: number;
  limit_price_cents: number;
  max_notional_cents: number;
  expires_at: Date | string;
  status: string;
  approved: boolean;
}

export async function findStoredApprovedOrder(
  db: Queryable,
  orderId: string,
  userSub: string,
): Promise<{ ok: true; order: ApprovedOrder } | BindingRefusal> {
  const [row] = await db.query<OrderRow>(
    `SELECT o.order_id, o.user_sub, o.symbol, o.side, o.quantity, o.limit_price_cents, o.max_notional_cents,
            o.expires_at, o.status,
            EXISTS (SELECT 1 FROM pending_approvals p WHERE p.order_id = o.order_id AND p.status = ANY($2)) AS approved
       FROM orders o WHERE o.order_id = $1`,
    [orderId, [...APPROVAL_USABLE_STATUSES]],
  );
  // Another user's order is reported exactly like a missing one: no hint that it exists.
  if (!row || row.user_sub !== userSub) {
    return { ok: false, code: "order_not_approved", message: `No order ${orderId} is recorded for this user.` };
  }
  if (!(ORDER_EXECUTABLE_STATUSES as readonly string[]).includes(row.status)) {
    return { ok: false, code: "order_not_executable", message: `Order ${orderId} is ${row.status} and cannot be executed.` };
  }
  if (!row.approved) {
    return { ok: false, code: "order_not_approved", message: `No approval is recorded for order ${orderId}.` };
  }
  return {
    ok: true,
    order: {
      orderId: row.order_id,
      symbol: row.symbol,
      side: row.side,
      quantity: Number(row.quantity),
      limitPriceCents: Number(row.limit_price_cents),
      maxNotionalCents: Number(row.max_notional_cents),
      expiresAt: row.expires_at instanceof Date ? row.expires_at : new Date(row.expires_at),
    },
  };
}
