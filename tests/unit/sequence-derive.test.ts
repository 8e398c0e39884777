import { describe, expect, it } from "vitest";
import { parseSequenceQuery } from "@/app/api/sequence/schema";
import { deriveSequence, type AuditFact, type SequenceFacts } from "@/lib/sequence/derive";

/**
 * The sequence view's derivation: each message only when a record proves it, in the order the
 * records were written, decoded, never a token. Negative cases first.
 */
const ORDER_ID = "ord_ABCDEFGHJKLMNPQR2345";
const JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\./;
const t = (s: number) => new Date(Date.UTC(2030, 0, 1, 12, 0, s)).toISOString();
const AGENT = { sub: "aurelius" };

let seq = 0;
function rec(at: number, source: AuditFact["source"], event: string, decision: string, more: Partial<AuditFact> = {}): AuditFact {
  return { seq: ++seq, at: t(at), source, event, decision, reason: null, sub: "alice", act: AGENT, jti: null, scopes: null, tool: null, binding_rule: null, ...more };
}

/** The records of a run up to Alice's decision, as the agent, the embedded server and the broker write them. */
function requested(): AuditFact[] {
  return [
    rec(0, "agent", "order.frozen", "frozen", { reason: "buy 38 NVDA, limit 131.20 USD" }),
    rec(1, "resource_server", "step_up.required", "refused", {
      sub: "aurelius",
      act: null,
      scopes: "openid stock:read",
      jti: "agent-jti-1",
      tool: "buy_stock",
      reason: "insufficient_scope: The buy_stock tool requires the stock:trade scope; the token has openid stock:read.",
    }),
    rec(2, "authorization_server", "ciba.requested", "accepted", { scopes: "openid stock:read stock:trade", reason: 'binding_message "BUY 38 NVDA max 5000.00 USD #K7Q2"; the user is notified' }),
    rec(2, "agent", "ciba.requested", "requested", { reason: 'binding_message "BUY 38 NVDA max 5000.00 USD #K7Q2", scope stock:trade, expires in 120 s' }),
  ];
}

function facts(audit: AuditFact[], more: Partial<SequenceFacts> = {}): SequenceFacts {
  return {
    names: { agentId: "aurelius", agentName: "Aurelius", investorName: "Alice" },
    order: {
      orderId: ORDER_ID,
      detail: { type: "stock_trade", order_id: ORDER_ID, symbol: "NVDA", side: "buy", quantity: 38, limit_price: "131.20", max_notional: "5000.00", expires_at: "2030-01-01T12:03:00.000Z" },
      status: "awaiting_approval",
      statusReason: null,
      createdAt: t(0),
    },
    approval: { bindingMessage: "BUY 38 NVDA max 5000.00 USD #K7Q2", status: "pending", intervalSeconds: 5, expiresAt: t(122), createdAt: t(2), lastError: null },
    audit,
    mail: { createdAt: t(2), readAt: t(9), subject: "Approve: Buy 38 NVDA", delivery: "mailbox" },
    dpop: { agentToken: true, oboToken: true },
    now: t(30),
    ...more,
  };
}

const kinds = (f: SequenceFacts) => deriveSequence(f).messages.map((m) => m.kind);
const message = (f: SequenceFacts, kind: string) => deriveSequence(f).messages.find((m) => m.kind === kind)!;
const value = (f: SequenceFacts, kind: string, name: string) => message(f, kind).fields.find((x) => x.name === name)?.value;

describe("what the view never shows", () => {
  it("withholds a JWT-shaped string wherever a record carries one", () => {
    const audit = requested();
    audit[1]!.reason = `insufficient_scope: The buy_stock tool requires the stock:trade scope; token ${JWT}`;
    audit.push(rec(40, "resource_server", "trade.refused", "refused", { reason: `invalid_token: ${JWT}`, jti: "obo-jti" }));
    const f = facts(audit, { order: { ...facts([]).order, status: "failed", statusReason: `the broker said ${JWT}` } });
    const text = JSON.stringify(deriveSequence(f));
    expect(text).not.toMatch(JWT_SHAPE);
    expect(text).toContain("[token withheld]");
  });

  it("shows no message that no record proves: an order just frozen is one note", () => {
    const f = facts([rec(0, "agent", "order.frozen", "frozen")], { approval: null, mail: null });
    expect(kinds(f)).toEqual(["order_frozen"]);
    expect(deriveSequence(f).outcome).toBe("in_progress");
    expect(deriveSequence(f).ending).toBeNull();
  });
});

describe("the query of GET /api/sequence", () => {
  const parse = (q: string) => parseSequenceQuery(new URL(`http://localhost/api/sequence${q}`));
  it.each([
    ["?order=1", /order id/],
    ["?order=ord_short", /order id/],
    ["?order=ord_ABCDEFGHJKLMNPQR2345'--", /order id/],
    ["?order=../../etc", /order id/],
    ["?order=", /order id/],
    ["?other=1", /Only the order parameter/],
    [`?order=${ORDER_ID}&order=${ORDER_ID}`, /repeated/],
    [`?order=${"ord_" + "A".repeat(200)}`, /longer than/],
  ])("refuses %s", (q, message) => {
    const parsed = parse(q);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.message).toMatch(message);
  });
  it("accepts no query and one order id", () => {
    expect(parse("")).toEqual({ ok: true, value: {} });
    expect(parse(`?order=${ORDER_ID}`)).toEqual({ ok: true, value: { order: ORDER_ID } });
  });
});

describe("an approved run", () => {
  function approved(): SequenceFacts {
    const audit = [
      ...requested(),
      rec(12, "authorization_server", "ciba.approved", "approved", { reason: "the user signed in and approved the order" }),
      rec(13, "authorization_server", "token.issued", "issued", { jti: "obo-jti-1", scopes: "openid stock:read stock:trade" }),
      rec(13, "agent", "ciba.approved", "approved", { reason: "the token endpoint issued a token" }),
      rec(13, "agent", "token.received", "accepted", { jti: "obo-jti-1", scopes: "openid stock:read stock:trade", reason: "the on-behalf-of token grants the frozen order" }),
      rec(14, "resource_server", "trade.executed", "allowed", { jti: "obo-jti-1", scopes: "openid stock:read stock:trade", tool: "buy_stock", binding_rule: "rar", reason: "executed: trade 7, 38 NVDA at 130.90 USD" }),
    ];
    return facts(audit, { order: { ...facts([]).order, status: "executed" }, approval: { ...facts([]).approval!, status: "approved" } });
  }

  it("shows every message in the order the records were written, numbered", () => {
    const f = approved();
    expect(kinds(f)).toEqual([
      "order_frozen",
      "agent_call",
      "challenge",
      "ciba_request",
      "ciba_ack",
      "notification",
      "poll",
      "poll_pending",
      "mail_opened",
      "user_approves",
      "final_poll",
      "token_response",
      "trade_call",
      "trade_executed",
    ]);
    expect(deriveSequence(f).messages.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(deriveSequence(f).messages.map((m) => `${m.from}>${m.to}`)).toEqual([
      "agent>agent", "agent>mcp", "mcp>agent", "agent>as", "as>agent", "as>mailbox", "agent>as", "as>agent", "mailbox>user", "user>as", "agent>as", "as>agent", "agent>mcp", "mcp>agent",
    ]);
  });

  it("the broker's transaction challenge: first, naming the order, its WWW-Authenticate as the broker sends it (remediation withheld)", () => {
    const audit = requested();
    const challenge = {
      ...audit[1]!,
      at: t(0),
      reason: `insufficient_authorization: the buy_stock tool requires the stock:trade scope and approval of order ${ORDER_ID} (buy 38 NVDA, limit 131.20 USD); the token has openid stock:read.`,
    };
    const f = facts([challenge, { ...audit[0]!, at: t(1) }, ...audit.slice(2)]);
    expect(kinds(f).slice(0, 3)).toEqual(["agent_call", "challenge", "order_frozen"]);
    expect(message(f, "challenge").label).toBe("403 insufficient_authorization · order");
    expect(value(f, "challenge", "WWW-Authenticate")).toBe('Bearer error="insufficient_authorization", scope="stock:trade", authorization_remediation="…", resource_metadata="…"');
    expect(value(f, "challenge", "authorization_details")).toBe(`[stock_trade ${ORDER_ID}: buy 38 NVDA, limit 131.20 USD]`);
    expect(value(f, "agent_call", "tool")).toBe("buy_stock {symbol: NVDA, quantity: 38, limit_price: 131.20}");
  });

  it("decodes what matters: the challenge's scope, the binding message and order, the interval, the token's sub, act and scope, the trade", () => {
    const f = approved();
    expect(message(f, "challenge").label).toBe("403 insufficient_scope · stock:trade");
    expect(value(f, "challenge", "WWW-Authenticate")).toContain('error="insufficient_scope", scope="stock:trade"');
    expect(value(f, "agent_call", "token scope")).toBe("openid stock:read");
    expect(value(f, "ciba_request", "binding_message")).toBe("BUY 38 NVDA max 5000.00 USD #K7Q2");
    expect(value(f, "ciba_request", "authorization_details")).toContain(`order_id: ${ORDER_ID}, buy 38 NVDA, limit_price 131.20`);
    expect(value(f, "ciba_request", "actor_token")).toMatch(/^agent token \(sub aurelius; never shown\)$/);
    expect(value(f, "ciba_ack", "expires_in")).toBe("120 s");
    expect(value(f, "poll", "interval")).toBe("5 s");
    expect(value(f, "poll_pending", "error")).toBe("authorization_pending");
    expect(value(f, "token_response", "sub")).toBe("alice");
    expect(value(f, "token_response", "act")).toBe('{"sub":"aurelius"}');
    expect(value(f, "token_response", "scope")).toBe("openid stock:read stock:trade");
    expect(value(f, "token_response", "jti")).toBe("obo-jti-1");
    expect(value(f, "trade_call", "Authorization")).toBe("DPoP on-behalf-of token (never shown)");
    expect(value(f, "trade_executed", "binding rule")).toMatch(/^rar: /);
    expect(deriveSequence(f).outcome).toBe("executed");
    expect(deriveSequence(f).ending).toBe("Executed for Alice: trade 7, 38 NVDA at 130.90 USD.");
  });

  it("links every message to the spec section it follows", () => {
    const specs = Object.fromEntries(deriveSequence(approved()).messages.map((m) => [m.kind, m.specs.map((s) => s.label)]));
    expect(specs.challenge).toContain("RFC 6750 §3.1");
    expect(specs.ciba_request).toEqual(["CIBA Core §7.1", "RFC 9396 §2", "RFC 8693 §2.1"]);
    expect(specs.ciba_ack).toEqual(["CIBA Core §7.3"]);
    expect(specs.poll).toEqual(["CIBA Core §10.1"]);
    expect(specs.poll_pending).toEqual(["CIBA Core §11"]);
    expect(specs.token_response).toEqual(["CIBA Core §10.1.1", "RFC 8693 §4.1", "RFC 9396 §7"]);
    expect(specs.trade_call).toContain("RFC 9449 §7");
    for (const m of deriveSequence(approved()).messages) {
      expect(m.specs.length).toBeGreaterThan(0);
      for (const s of m.specs) expect(s.href).toMatch(/^https:\/\/(www\.rfc-editor\.org\/rfc\/rfc\d+#section-[\d.]+|openid\.net\/specs\/.+#rfc\.section\.[\d.]+|modelcontextprotocol\.io\/specification\/.+)$/);
    }
  });

  it("shows no authorization_pending when Alice decided before the first poll", () => {
    const f = approved();
    f.approval!.intervalSeconds = 30;
    expect(kinds(f)).not.toContain("poll_pending");
    expect(kinds(f)).not.toContain("poll");
  });

  it("says the server slowed the agent down when it did", () => {
    const f = approved();
    f.approval!.lastError = "slow_down";
    expect(message(f, "poll_pending").label).toBe("authorization_pending · slow_down");
  });
});

describe("endings without a trade", () => {
  it("a denied run ends with Alice's denial and access_denied", () => {
    const audit = [
      ...requested(),
      rec(12, "authorization_server", "ciba.denied", "denied"),
      rec(13, "agent", "ciba.denied", "denied", { reason: "the token endpoint answered access_denied" }),
    ];
    const f = facts(audit, { order: { ...facts([]).order, status: "denied" } });
    const k = kinds(f);
    expect(k.slice(-3)).toEqual(["user_denies", "final_poll", "access_denied"]);
    expect(k).not.toContain("trade_call");
    expect(message(f, "access_denied").tone).toBe("refused");
    expect(deriveSequence(f)).toMatchObject({ outcome: "denied", ending: "Alice denied the request: no trade." });
  });

  it("an expired run ends with expired_token and no decision by Alice", () => {
    const audit = [...requested(), rec(122, "agent", "ciba.expired", "expired", { reason: "the token endpoint answered expired_token" })];
    const f = facts(audit, { order: { ...facts([]).order, status: "expired" }, mail: { ...facts([]).mail!, readAt: null } });
    const k = kinds(f);
    expect(k.slice(-2)).toEqual(["final_poll", "expired_token"]);
    expect(k).not.toContain("user_approves");
    expect(k).not.toContain("user_denies");
    expect(k).toContain("poll_pending");
    expect(deriveSequence(f)).toMatchObject({ outcome: "expired", ending: "The request expired before Alice decided: no trade." });
  });
});
