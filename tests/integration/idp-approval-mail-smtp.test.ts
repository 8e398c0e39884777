import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { IdentityServerProfile } from "@/lib/auth/profiles/types";
import { deriveBindingMessage } from "@/lib/orders/binding-message";
import type { StockTradeDetail } from "@/lib/orders/order";
import { freePort } from "../helpers/app-server";
import { startEmbeddedWorld, type EmbeddedWorld, PASSWORD } from "../helpers/embedded-world";
import { addressesOf, hrefsOf, startSmtpSink, urlsOf, type SmtpSink } from "../helpers/smtp-sink";
import { ApprovalPageUser } from "./idp-support";

/**
 * The approval mail over real SMTP: the embedded identity server (oidc-provider, its approval
 * page, on a loopback port that is also its public origin) with SMTP_URL pointing at a real SMTP
 * server on loopback. The agent's CIBA request makes the server mail Alice; the test reads the
 * message as her mail client would and follows its link over HTTP. When SMTP fails (a refused
 * recipient, no server), the request goes on: the copy in the embedded mailbox is marked
 * smtp_failed and its links still lead to the approval.
 */
let sink: SmtpSink;
let world: EmbeddedWorld;
let profile: IdentityServerProfile;

beforeAll(async () => {
  sink = await startSmtpSink();
  world = await startEmbeddedWorld({ SMTP_URL: sink.url });
  profile = world.profile();
});
afterAll(async () => {
  await world?.stop();
  await sink?.close();
});

/** The agent asks Alice to approve `order` (with its own token as actor). */
async function askAlice(p: IdentityServerProfile, order: StockTradeDetail) {
  const agentToken = await p.getAgentToken();
  const bindingMessage = deriveBindingMessage(order);
  const ack = await p.startCiba({ order, bindingMessage, actorToken: agentToken.accessToken, requestedExpirySeconds: 120 });
  return { ack, bindingMessage };
}

/** The CIBA request is alive: pending, then Alice approves from `link`, then the token is issued for the order. */
async function expectApprovableThrough(w: EmbeddedWorld, p: IdentityServerProfile, authReqId: string, link: string, order: StockTradeDetail) {
  expect(await p.pollCiba(authReqId)).toEqual({ kind: "pending" });
  const page = await new ApprovalPageUser().decide(link, "approve", PASSWORD);
  expect(page.html).toContain('data-status="approved"');
  await new Promise((r) => setTimeout(r, w.config.idp.cibaIntervalSeconds * 1000 + 100));
  const outcome = await p.pollCiba(authReqId);
  expect(outcome.kind).toBe("approved");
  if (outcome.kind === "approved") expect(p.readGrantedOrder(outcome.token)).toEqual([order]);
}

describe("the approval mail over SMTP", () => {
  it("reaches Alice's mail server with the order in both bodies, and its link opens the approval page for that request", async () => {
    const order = { ...world.order(), quantity: 3, limit_price: "131.20", max_notional: "393.60" };
    const { bindingMessage } = await askAlice(profile, order);

    const received = await sink.waitForMessage((m) => m.parsed.text?.includes(order.order_id) ?? false);
    const host = new URL(world.config.publicUrl).hostname;
    expect(received.envelope).toEqual({ from: `no-reply@${host}`, to: ["alice@example.com"] });
    expect(received.parsed.from?.value).toEqual([{ name: "Sleeping Guardian Identity", address: `no-reply@${host}` }]);
    expect(addressesOf(received.parsed.to)).toEqual(["alice@example.com"]);
    expect(received.parsed.subject).toBe("Aurelius asks you to approve: Buy 3 NVDA");

    // Both bodies name the order: side, quantity, symbol, limit, and the binding message.
    const text = received.parsed.text ?? "";
    const html = typeof received.parsed.html === "string" ? received.parsed.html : "";
    expect(html).not.toBe("");
    for (const body of [text, html]) {
      expect(body).toContain("BUY");
      expect(body).toContain("3 shares");
      expect(body).toContain("NVDA");
      expect(body).toContain("131.20 USD per share");
      expect(body).toContain(bindingMessage);
      expect(body).toContain(order.order_id);
    }

    // Both bodies link to the approval page of this one request: Approve, and Deny preselected.
    const approvalLinks = (urls: string[]) => urls.filter((u) => u.startsWith(`${world.config.publicUrl}/oidc/approve/`));
    const fromText = approvalLinks(urlsOf(text));
    const fromHtml = approvalLinks(hrefsOf(html));
    expect(fromText).toHaveLength(2);
    expect(fromHtml).toEqual(fromText);
    const [approve, deny] = fromText as [string, string];
    expect(approve).toMatch(/\/oidc\/approve\/[A-Za-z0-9_-]{16,}$/);
    expect(deny).toBe(`${approve}?decision=deny`);
    // The mailbox's copy is the same message, marked as delivered.
    const copy = await world.mailFor(order.order_id);
    expect(copy).toMatchObject({ delivery: "smtp", messageId: received.parsed.messageId, links: { approve, deny } });

    // Opening the link (plain GET, no session) shows the page for this request: sign in to review it.
    const user = new ApprovalPageUser();
    const opened = await user.open(approve);
    expect(opened.status).toBe(200);
    expect(opened.html).toContain('data-testid="sign-in-form"');
    expect(opened.html).toContain("Aurelius wants to buy 3 NVDA");
    expect(opened.html).toContain(`data-testid="binding-message">${bindingMessage}<`);
    // Signed in, the same link shows the order itself.
    const signIn = await user.post(`${approve}/sign-in`, { csrf: user.csrf, username: "alice@example.com", password: PASSWORD, decision: "approve" });
    expect(signIn.status).toBe(303);
    const review = await user.open(new URL(signIn.location!, approve).href);
    expect(review.html).toContain('data-testid="decision-form"');
    expect(review.html).toContain(`data-testid="order-id">${order.order_id}<`);
    expect(review.html).toContain('data-testid="order-quantity">3 shares<');
    expect(review.html).toContain('data-testid="order-limit-price">131.20 USD per share<');
  });

  it("when the server refuses the recipient: the CIBA request goes on, the mailbox copy is marked smtp_failed and approves", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    sink.refuseRecipients = true;
    try {
      const order = world.order();
      const { ack } = await askAlice(profile, order);
      expect(ack.authReqId).toEqual(expect.any(String));
      expect(sink.refused).toContain("alice@example.com");
      expect(sink.messages.some((m) => m.parsed.text?.includes(order.order_id))).toBe(false);
      const copy = await world.mailFor(order.order_id);
      expect(copy.delivery).toBe("smtp_failed");
      expect(warn.mock.calls.flat().join(" ")).toContain(`SMTP delivery of mail ${copy.id} failed (EENVELOPE)`);
      await expectApprovableThrough(world, profile, ack.authReqId, copy.links.approve!, order);
    } finally {
      sink.refuseRecipients = false;
      warn.mockRestore();
    }
  });
});

describe("the approval mail with no SMTP server listening", () => {
  it("leaves the CIBA request alive: the mailbox copy is marked smtp_failed and approves", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const down = await startEmbeddedWorld({ SMTP_URL: `smtp://127.0.0.1:${await freePort()}` });
    try {
      const p = down.profile();
      const order = down.order();
      const { ack } = await askAlice(p, order);
      const copy = await down.mailFor(order.order_id);
      expect(copy.delivery).toBe("smtp_failed");
      expect(warn.mock.calls.flat().join(" ")).toContain(`SMTP delivery of mail ${copy.id} failed (ESOCKET)`);
      await expectApprovableThrough(down, p, ack.authReqId, copy.links.approve!, order);
    } finally {
      warn.mockRestore();
      await down.stop();
    }
  });
});
