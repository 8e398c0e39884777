import { STOCK_TRADE_TYPE } from "../protocol";
import type { StockTradeDetail } from "./order";

/**
 * The order in Auth0's Rich Authorization Request schema, and back. Guardian renders only entries
 * of the form
 *
 *   { type: "urn:auth0:schemas:authorization-details:v1:<name>", instruction: "…",
 *     properties: { <key>: { display, name, display_order, value } } }
 *
 * (<name> registered on the API: AUTH0_RAR_TYPE, default "stock_trade"), and Auth0 grants the
 * entry back unchanged in the token response and the access token's `authorization_details`
 * claim. The agent (readGrantedOrder) and the MCP server (lib/orders/check.ts) map it back to the
 * canonical `stock_trade` entry and then apply the same checks as for every server.
 *
 * Pure: no I/O, no secrets (imported by the resource server as well as the client).
 */
export const AUTH0_RAR_PREFIX = "urn:auth0:schemas:authorization-details:v1:";

/** The order's fields in the order Guardian lists them, with the label Alice reads. */
const PROPERTIES: readonly (readonly [Exclude<keyof StockTradeDetail, "type">, string])[] = [
  ["side", "Action"],
  ["symbol", "Stock"],
  ["quantity", "Shares (at most)"],
  ["limit_price", "Limit price per share (USD)"],
  ["max_notional", "Maximum total (USD)"],
  ["expires_at", "Order valid until"],
  ["order_id", "Order id"],
];

export interface Auth0Property {
  display: boolean;
  name: string;
  display_order: number;
  value: string;
}

export interface Auth0AuthorizationDetail {
  type: string;
  instruction: string;
  properties: Record<string, Auth0Property>;
}

export function auth0RarType(name: string): string {
  return `${AUTH0_RAR_PREFIX}${name}`;
}

/** The frozen order as the one authorization_details entry Guardian shows. */
export function toAuth0AuthorizationDetail(order: StockTradeDetail, name: string): Auth0AuthorizationDetail {
  const properties: Record<string, Auth0Property> = {};
  PROPERTIES.forEach(([key, label], i) => {
    properties[key] = { display: true, name: label, display_order: i + 1, value: String(order[key]) };
  });
  const verb = order.side === "buy" ? "buy" : "sell";
  const bound = order.side === "buy" ? "at most" : "at least";
  return {
    type: auth0RarType(name),
    instruction: `Approve the agent to ${verb} up to ${order.quantity} ${order.symbol} shares ${bound} ${order.limit_price} USD each, ${order.max_notional} USD in total, before ${order.expires_at}.`,
    properties,
  };
}

/**
 * Auth0's entry of type `urn:…:v1:<name>` as the canonical `stock_trade` object, for the same
 * schema check as any other server's (lib/orders StockTradeDetail, strict). Returns the entry
 * itself when it is of another type. Nothing is repaired: a missing or extra property, a
 * property without a string value, or a quantity that is not a whole number stays visibly wrong,
 * so the strict schema refuses it.
 */
export function normalizeAuth0Detail(entry: unknown, name: string): unknown {
  if (typeof entry !== "object" || entry === null) return entry;
  const { type, properties } = entry as { type?: unknown; properties?: unknown };
  if (type !== auth0RarType(name)) return entry;
  if (typeof properties !== "object" || properties === null || Array.isArray(properties)) return { type: STOCK_TRADE_TYPE, properties };
  const canonical: Record<string, unknown> = { type: STOCK_TRADE_TYPE };
  for (const [key, property] of Object.entries(properties as Record<string, unknown>)) {
    const value = typeof property === "object" && property !== null ? (property as { value?: unknown }).value : undefined;
    canonical[key] = key === "quantity" && typeof value === "string" && /^[1-9]\d{0,6}$/.test(value) ? Number(value) : value;
  }
  return canonical;
}
