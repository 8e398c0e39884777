import { describe, expect, it } from "vitest";
import { createFindAccount, createInvestorAccounts } from "@/lib/idp/accounts";
import { parseConfig } from "@/lib/config";
import { stockTradeProblem } from "@/lib/idp/authorization-details";
import { constantTimeEqual } from "@/lib/idp/constant-time";
import { renderApprovalEmail } from "@/lib/idp/notification-email";
import { randomPassword } from "@/lib/idp/secrets";
import { stockTradeDetail } from "../helpers/orders";

/** The embedded server's small security helpers, negative cases first. */
const accounts = createInvestorAccounts(
  parseConfig({ INVESTOR_EMAIL: "Alice@Example.com", INVESTORS: "bob:Bob:bob@example.com" }),
  new Map([
    ["alice", "pw-123456"],
    ["bob", "bob-pw-7890"],
  ]),
);

describe("stock_trade authorization details", () => {
  const now = Date.parse("2029-12-31T00:00:00Z");

  it("refuses what the one order schema refuses, in its words", () => {
    expect(stockTradeProblem({ ...stockTradeDetail(), note: "x" }, now)).toMatch(/unknown field.*note/);
    expect(stockTradeProblem(stockTradeDetail({ limit_price: "0.00" }), now)).toMatch(/limit_price/);
    expect(stockTradeProblem(stockTradeDetail({ max_notional: "-1.00" }), now)).toMatch(/max_notional/);
    expect(stockTradeProblem(stockTradeDetail({ type: "other" }), now)).toMatch(/type/);
    expect(stockTradeProblem("not an object", now)).toEqual(expect.any(String));
  });

  it("refuses more than one million shares (the order schema's cap)", () => {
    expect(stockTradeProblem(stockTradeDetail({ quantity: 1_000_001 }), now)).toMatch(/quantity/);
    expect(stockTradeProblem(stockTradeDetail({ quantity: 1_000_000_000 }), now)).toMatch(/quantity/);
    expect(stockTradeProblem(stockTradeDetail({ quantity: 1_000_000 }), now)).toBeUndefined();
  });

  it("refuses an order that has already expired, or expires at this very moment", () => {
    expect(stockTradeProblem(stockTradeDetail(), Date.parse("2030-01-01T00:00:01Z"))).toBe("stock_trade expires_at is in the past");
    expect(stockTradeProblem(stockTradeDetail(), Date.parse("2030-01-01T00:00:00Z"))).toBe("stock_trade expires_at is in the past");
    expect(stockTradeProblem(stockTradeDetail({ expires_at: "2030-01-01T02:00:00+02:00" }), Date.parse("2030-01-01T00:00:00Z"))).toMatch(/past/);
  });

  it("accepts a well-formed order, with or without a time-zone offset", () => {
    expect(stockTradeProblem(stockTradeDetail(), now)).toBeUndefined();
    expect(stockTradeProblem(stockTradeDetail({ expires_at: "2030-01-01T02:00:00+02:00", side: "sell", limit_price: "5" }), now)).toBeUndefined();
  });
});

describe("constantTimeEqual", () => {
  it("is false for different values, including prefixes and different lengths", () => {
    expect(constantTimeEqual("secret", "secreT")).toBe(false);
    expect(constantTimeEqual("secret", "secret2")).toBe(false);
    expect(constantTimeEqual("", "x")).toBe(false);
  });

  it("is true for equal values", () => {
    expect(constantTimeEqual("correct horse", "correct horse")).toBe(true);
    expect(constantTimeEqual("", "")).toBe(true);
  });
});

describe("investor identity", () => {
  it("resolves only an investor's email (any case) or her exact user id", () => {
    expect(accounts.resolve("mallory@example.com")).toBeUndefined();
    expect(accounts.resolve("ALICE")).toBeUndefined();
    expect(accounts.resolve("")).toBeUndefined();
    expect(accounts.resolve("alice@example.com")).toBe("alice");
    expect(accounts.resolve("alice")).toBe("alice");
    expect(accounts.resolve("BOB@example.com")).toBe("bob");
  });

  it("checks credentials: wrong password, unknown user, or another investor's password fail", () => {
    expect(accounts.verify("alice", "pw-12345")).toBeUndefined();
    expect(accounts.verify("mallory", "pw-123456")).toBeUndefined();
    expect(accounts.verify("alice", "bob-pw-7890")).toBeUndefined();
    expect(accounts.verify("bob@example.com", "pw-123456")).toBeUndefined();
    expect(accounts.verify("alice@example.com", "pw-123456")).toBe("alice");
    expect(accounts.verify("bob", "bob-pw-7890")).toBe("bob");
  });

  it("finds only the investors' accounts, each with her claims", async () => {
    const find = createFindAccount(accounts);
    expect(await find({} as never, "mallory")).toBeUndefined();
    expect(await (await find({} as never, "bob"))!.claims("id_token", "openid email", {}, [])).toMatchObject({ sub: "bob", email: "bob@example.com" });
    const account = await find({} as never, "alice");
    expect(await account!.claims("id_token", "openid email", {}, [])).toMatchObject({ sub: "alice", email: "Alice@Example.com" });
  });

  it("generates typeable passwords that differ", () => {
    const a = randomPassword();
    expect(a).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    expect(randomPassword()).not.toBe(a);
  });
});

describe("notification email", () => {
  it("renders the order and escapes everything it shows", () => {
    const mail = renderApprovalEmail({
      investorName: "Alice <script>",
      agentName: "Aurelius",
      order: stockTradeDetail() as never,
      scope: "openid stock:read stock:trade",
      bindingMessage: "BUY 38 NVDA max 131.20 USD #K7Q2",
      expiresAt: new Date("2030-01-01T00:02:00Z"),
      approveUrl: "https://example.test/oidc/approve/apr_x?a=1&b=2",
      denyUrl: "https://example.test/oidc/approve/apr_x?decision=deny",
      now: new Date("2030-01-01T00:00:00Z"),
    });
    expect(mail.subject).toBe("Aurelius asks you to approve: Buy 38 NVDA");
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("Alice &lt;script&gt;");
    expect(mail.html).toContain('href="https://example.test/oidc/approve/apr_x?a=1&amp;b=2"');
    expect(mail.text).toContain("asks for your approval to buy 38 NVDA.");
    expect(mail.text).toContain("Limit price: 131.20 USD per share");
    expect(mail.text).toContain("Maximum amount: 5,000.00 USD");
    expect(mail.text).toContain("Order id: ord_ABCDEFGHJKLMNPQR2345");
    expect(mail.text).toContain("expires at 00:02:00 UTC, 1 Jan 2030 (in 2 minutes)");
  });
});
