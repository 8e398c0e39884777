import { describe, expect, it } from "vitest";
import type { IdentityServerProfile, TokenResult } from "@/lib/auth/profiles/types";
import { mandateBindingMessage, StandingMandate } from "@/lib/agent/standing-mandate";
import { bindingMessageProblem } from "@/lib/orders/binding-message";
import type { StockTradeMandateDetail } from "@/lib/standing-mandate/mandate";

/**
 * The agent's side of a standing mandate: it keeps a grant only when the server issued exactly the
 * mandate it asked for, with a refresh token, and tries only orders that fit it; the resource
 * server decides the rest (tests/attack/standing-mandate.test.ts).
 */
const detail: StockTradeMandateDetail = {
  type: "stock_trade_mandate",
  mandate_id: "mdt_AgentSideMandate000001",
  symbol: "NVDA",
  side: "buy",
  max_per_trade: "500.00",
  max_per_day: "2000.00",
  currency: "USD",
  expires_at: "2030-01-01T00:00:00.000Z",
};

const profile = (draws: TokenResult[] = []): IdentityServerProfile =>
  ({
    name: "embedded",
    readGrantedOrder: (t: TokenResult) => t.authorizationDetails,
    mandates: { start: async () => ({ authReqId: "x", expiresIn: 60 }), draw: async () => draws.shift()! },
  }) as unknown as IdentityServerProfile;

const token = (details: unknown[] | undefined, refreshToken?: string): TokenResult => ({
  accessToken: "at",
  expiresAt: new Date(Date.now() + 60_000),
  scopes: [],
  claims: { opaque: false },
  authorizationDetails: details,
  ...(refreshToken ? { refreshToken } : {}),
});

const order = (overrides: Record<string, unknown> = {}) =>
  ({ type: "stock_trade", order_id: "ord_AgentSideOrder00000001", symbol: "NVDA", side: "buy", quantity: 3, limit_price: "150.00", max_notional: "450.00", expires_at: "2030-01-01T00:00:00Z", ...overrides }) as never;

describe("StandingMandate (agent side)", () => {
  it("refuses a grant of other terms, of more than the mandate, or without a refresh token", () => {
    const s = new StandingMandate(profile());
    expect(s.accept(detail, token([{ ...detail, max_per_day: "20000.00" }], "rt"))).toMatch(/other authorization_details/);
    expect(s.accept(detail, token([detail, detail], "rt"))).toMatch(/other authorization_details/);
    expect(s.accept(detail, token(undefined, "rt"))).toMatch(/other authorization_details/);
    expect(s.accept(detail, token([detail]))).toMatch(/no refresh token/);
    expect(s.current()).toBeUndefined();
    expect(s.covers(order(), new Date())).toBe(false);
  });

  it("tries only buys of its symbol whose maximum fits the per-trade amount, before it expires", () => {
    const s = new StandingMandate(profile());
    expect(s.accept(detail, token([detail], "rt-1"))).toBeUndefined();
    const now = new Date("2029-06-01T00:00:00Z");
    expect(s.covers(order(), now)).toBe(true);
    expect(s.covers(order({ max_notional: "500.01" }), now)).toBe(false);
    expect(s.covers(order({ symbol: "AMD" }), now)).toBe(false);
    expect(s.covers(order({ side: "sell" }), now)).toBe(false);
    expect(s.covers(order(), new Date("2030-01-01T00:00:00Z"))).toBe(false);
    s.forget("mdt_SomeOtherMandate0000001");
    expect(s.current()).toEqual(detail);
    s.forget(detail.mandate_id);
    expect(s.covers(order(), now)).toBe(false);
  });

  it("draws with the latest refresh token the server rotated to", async () => {
    const calls: string[] = [];
    const p = profile();
    (p.mandates as { draw: (rt: string) => Promise<TokenResult> }).draw = async (rt) => {
      calls.push(rt);
      return token([detail], `rt-${calls.length + 1}`);
    };
    const s = new StandingMandate(p);
    s.accept(detail, token([detail], "rt-1"));
    await s.draw();
    await s.draw();
    expect(calls).toEqual(["rt-1", "rt-2"]);
  });

  it("says the mandate in a binding message every server accepts", () => {
    const message = mandateBindingMessage(detail);
    expect(message).toBe("MANDATE NVDA 500.00 per trade 2000.00 per day");
    expect(bindingMessageProblem(message)).toBeUndefined();
  });
});
