import { describe, expect, it } from "vitest";
import { MandateGrantVault } from "@/lib/agent/mandate-grant-vault";
import { recordMandateRevoked, revokeAgentMandates } from "@/lib/store/standing-mandates";
import { mandateFromDetail } from "@/lib/standing-mandate/mandate";
import { emptyTables, useTestDb } from "../helpers/store";
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

const db = useTestDb(emptyTables);
const AGENT = "aurelius";

/** The mandate's record as the dashboard's grant writes it (status 'requested'). */
async function seedRecord(d: StockTradeMandateDetail = detail, status = "requested") {
  const m = mandateFromDetail(d);
  await db.query(
    `INSERT INTO mandates (mandate_id, user_sub, agent_sub, symbol, max_per_trade_cents, max_per_day_cents, expires_at, status)
     VALUES ($1, 'alice', $2, $3, $4, $5, $6, $7)`,
    [m.mandateId, AGENT, m.symbol, m.maxPerTradeCents, m.maxPerDayCents, m.expiresAt.toISOString(), status],
  );
}
const grant = (id = detail.mandate_id) => db.query("UPDATE mandates SET status = 'granted' WHERE mandate_id = $1", [id]);
const statusOf = async (id = detail.mandate_id) => (await db.query<{ status: string }>("SELECT status FROM mandates WHERE mandate_id = $1", [id]))[0]?.status;
const rows = () => db.query<{ mandate_id: string; sealed: string; drawing_since: Date | null; rotations: number }>("SELECT * FROM mandate_grants ORDER BY mandate_id");

const profile = (draws: TokenResult[] = []): IdentityServerProfile =>
  ({
    name: "embedded",
    readGrantedOrder: (t: TokenResult) => t.authorizationDetails,
    mandates: { start: async () => ({ authReqId: "x", expiresIn: 60 }), draw: async () => draws.shift()! },
  }) as unknown as IdentityServerProfile;

function standing(p: IdentityServerProfile = profile(), lines: string[] = []) {
  return new StandingMandate(p, new MandateGrantVault(db, AGENT), db, AGENT, async (_level, message) => void lines.push(message));
}
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
  it("refuses a grant of other terms, of more than the mandate, or without a refresh token, and stores nothing", async () => {
    await seedRecord();
    const s = standing();
    expect(await s.accept(detail, token([{ ...detail, max_per_day: "20000.00" }], "rt"))).toMatch(/other authorization_details/);
    expect(await s.accept(detail, token([detail, detail], "rt"))).toMatch(/other authorization_details/);
    expect(await s.accept(detail, token(undefined, "rt"))).toMatch(/other authorization_details/);
    expect(await s.accept(detail, token([detail]))).toMatch(/no refresh token/);
    expect(s.current()).toBeUndefined();
    expect(s.covers(order(), new Date())).toBe(false);
    expect(await rows()).toEqual([]);
  });

  it("refuses a grant whose mandate Alice revoked while it was being granted", async () => {
    await seedRecord();
    expect(await recordMandateRevoked(db, detail.mandate_id, "alice")).toBe(true);
    const s = standing();
    expect(await s.accept(detail, token([detail], "rt-1"))).toMatch(/revoked while it was being granted/);
    expect(s.current()).toBeUndefined();
    expect(await rows()).toEqual([]);
  });

  it("tries only buys of its symbol whose maximum fits the per-trade amount, before it expires", async () => {
    await seedRecord();
    const s = standing();
    expect(await s.accept(detail, token([detail], "rt-1"))).toBeUndefined();
    const now = new Date("2029-06-01T00:00:00Z");
    expect(s.covers(order(), now)).toBe(true);
    expect(s.covers(order({ max_notional: "500.01" }), now)).toBe(false);
    expect(s.covers(order({ symbol: "AMD" }), now)).toBe(false);
    expect(s.covers(order({ side: "sell" }), now)).toBe(false);
    expect(s.covers(order(), new Date("2030-01-01T00:00:00Z"))).toBe(false);
    await s.forget("mdt_SomeOtherMandate0000001");
    expect(s.current()).toEqual(detail);
    await s.forget(detail.mandate_id);
    expect(s.covers(order(), now)).toBe(false);
    expect(await rows()).toEqual([]);
  });

  it("draws with the latest refresh token the server rotated to, also after a restart", async () => {
    await seedRecord();
    const calls: string[] = [];
    const p = profile();
    (p.mandates as { draw: (rt: string) => Promise<TokenResult> }).draw = async (rt) => {
      calls.push(rt);
      return token([detail], `rt-${calls.length + 1}`);
    };
    const s = standing(p);
    await s.accept(detail, token([detail], "rt-1"));
    await grant();
    await s.draw();
    await s.draw();
    // A new agent (a restart) takes the hold up from the store and draws with the newest token.
    const lines: string[] = [];
    const again = standing(p, lines);
    await again.restore();
    expect(again.current()).toEqual(detail);
    expect(lines).toEqual([expect.stringMatching(/held again after the start/)]);
    await again.draw();
    expect(calls).toEqual(["rt-1", "rt-2", "rt-3"]);
    expect((await rows())[0]).toMatchObject({ rotations: 3, drawing_since: null });
  });

  it("says the mandate in a binding message every server accepts", () => {
    const message = mandateBindingMessage(detail);
    expect(message).toBe("MANDATE NVDA 500.00 per trade 2000.00 per day");
    expect(bindingMessageProblem(message)).toBeUndefined();
  });
});

describe("the sealed hold in the store, attacked", () => {
  const REFRESH = "refresh-token-secret-value-7f3a9c";

  async function held(d: StockTradeMandateDetail = detail) {
    await seedRecord(d);
    const s = standing();
    expect(await s.accept(d, token([d], REFRESH))).toBeUndefined();
    await grant(d.mandate_id);
    return s;
  }

  it("keeps no token in clear: the row is a compact JWE (dir, A256GCM) and names neither the token nor the mandate's terms", async () => {
    await held();
    const [row] = await rows();
    expect(row!.sealed.split(".")).toHaveLength(5);
    const header = JSON.parse(Buffer.from(row!.sealed.split(".")[0]!, "base64url").toString("utf8"));
    expect(header).toEqual({ alg: "dir", enc: "A256GCM", cty: "mandate-grant" });
    const everything = JSON.stringify(await db.query("SELECT * FROM mandate_grants"));
    expect(everything).not.toContain(REFRESH);
    expect(everything).not.toContain(Buffer.from(REFRESH).toString("base64url"));
    expect(everything).not.toContain("500.00");
  });

  it("does not open a sealed hold copied onto another mandate: the hold is let go and the mandate revoked", async () => {
    await held();
    const other = { ...detail, mandate_id: "mdt_OtherMandateRecord00001" };
    await seedRecord(other, "granted");
    const [row] = await rows();
    await db.query("INSERT INTO mandate_grants (mandate_id, agent_sub, sealed) VALUES ($1, $2, $3)", [other.mandate_id, AGENT, row!.sealed]);
    await db.query("DELETE FROM mandate_grants WHERE mandate_id = $1", [detail.mandate_id]);
    const lines: string[] = [];
    const s = standing(profile(), lines);
    await s.restore();
    expect(s.current()).toBeUndefined();
    expect(await rows()).toEqual([]);
    expect(await statusOf(other.mandate_id)).toBe("revoked");
    expect(lines).toEqual([expect.stringMatching(/does not open.*revoked; every order asks for approval/)]);
  });

  it("after a crash in the middle of a draw, presents nothing: the hold is let go, the mandate revoked, and the log says why", async () => {
    await held();
    let presented = 0;
    const p = profile();
    (p.mandates as { draw: (rt: string) => Promise<TokenResult> }).draw = async () => {
      presented++;
      return token([detail], "rt-next");
    };
    // The crash: the draw was marked, the rotated token never stored.
    await db.query("UPDATE mandate_grants SET drawing_since = now()");
    const lines: string[] = [];
    const s = standing(p, lines);
    await s.restore();
    expect(s.current()).toBeUndefined();
    expect(s.covers(order(), new Date("2029-06-01T00:00:00Z"))).toBe(false);
    await expect(s.draw()).rejects.toThrow(/no standing mandate is held/);
    expect(presented).toBe(0);
    expect(await rows()).toEqual([]);
    expect(await statusOf()).toBe("revoked");
    expect(lines).toEqual([expect.stringMatching(/stopped while a token was being drawn.*not presented again/)]);
  });

  it("lets the hold go when the server refuses the refresh token, and never presents it again", async () => {
    const lines: string[] = [];
    await seedRecord();
    const p = profile();
    let presented = 0;
    (p.mandates as { draw: (rt: string) => Promise<TokenResult> }).draw = async () => {
      presented++;
      throw new Error("invalid_grant: grant request is invalid");
    };
    const s = standing(p, lines);
    await s.accept(detail, token([detail], REFRESH));
    await grant();
    await expect(s.draw()).rejects.toThrow(/invalid_grant/);
    await expect(s.draw()).rejects.toThrow(/no standing mandate is held/);
    expect(presented).toBe(1);
    expect(await rows()).toEqual([]);
    expect(await statusOf()).toBe("revoked");
    expect(lines).toEqual([expect.stringMatching(/let go: drawing a token from its grant failed \(invalid_grant/)]);
  });

  it("a revoked mandate's hold is deleted with the revocation; a restart then holds nothing and draws nothing", async () => {
    const s = await held();
    expect(await recordMandateRevoked(db, detail.mandate_id, "alice")).toBe(true);
    expect(await rows()).toEqual([]);
    await expect(s.draw()).rejects.toThrow(/no longer held/);
    const again = standing();
    await again.restore();
    expect(again.current()).toBeUndefined();
  });

  it("the kill switch deletes every hold of the agent in the statement that revokes its mandates", async () => {
    await held();
    expect(await rows()).toHaveLength(1);
    expect(await revokeAgentMandates(db, AGENT)).toBe(1);
    expect(await rows()).toEqual([]);
    expect(await statusOf()).toBe("revoked");
  });

  it("refuses a second draw while one is in flight (another instance's): the spent token is never presented twice", async () => {
    await held();
    const p = profile();
    let release!: () => void;
    const presented: string[] = [];
    (p.mandates as { draw: (rt: string) => Promise<TokenResult> }).draw = async (rt) => {
      presented.push(rt);
      await new Promise<void>((r) => (release = r));
      return token([detail], "rt-rotated");
    };
    const one = standing(p);
    const two = standing(p);
    await one.restore();
    await two.restore();
    const first = one.draw();
    await expect.poll(() => presented.length).toBe(1);
    await expect(two.draw()).rejects.toThrow(/being drawn from elsewhere/);
    release();
    await first;
    expect(presented).toEqual([REFRESH]);
    expect(await statusOf()).toBe("granted");
    expect((await rows())[0]).toMatchObject({ rotations: 1, drawing_since: null });
  });
});
