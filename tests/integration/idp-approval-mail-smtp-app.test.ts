import { asInvestor } from "../helpers/investor-session";
import * as oidc from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type AppServer } from "../helpers/app-server";
import { addressesOf, hrefsOf, startSmtpSink, urlsOf, type SmtpSink } from "../helpers/smtp-sink";
import { ACCESS_TOKEN_TYPE, agentToken, ApprovalPageUser, cibaParams, clientFor, idpEnv, order, PASSWORD, pollOnce } from "./idp-support";

/**
 * The built app with SMTP_URL: a CIBA request to its embedded identity server sends Alice's
 * approval mail through a real SMTP server on loopback, and the link in that mail opens the app's
 * approval page for the request over HTTP. (The lib-level cases, failing SMTP included, are in
 * idp-approval-mail-smtp.test.ts.)
 */
let sink: SmtpSink;
let app: AppServer;

beforeAll(async () => {
  sink = await startSmtpSink();
  app = await startApp(idpEnv({ SMTP_URL: sink.url }));
});
afterAll(async () => {
  await app?.stop();
  await sink?.close();
});

describe("the built app's approval mail over SMTP", () => {
  it("arrives with the order, and its link opens the approval page for that request", async () => {
    const agent = await clientFor(app);
    const detail = order();
    const ack = await oidc.initiateBackchannelAuthentication(agent, { ...cibaParams(detail), actor_token: await agentToken(agent), actor_token_type: ACCESS_TOKEN_TYPE });
    const bindingMessage = "BUY 38 NVDA max 131.20 USD #K7Q2";

    const received = await sink.waitForMessage((m) => m.parsed.text?.includes(detail.order_id as string) ?? false);
    expect(received.envelope.to).toEqual(["alice@example.com"]);
    expect(received.parsed.from?.value).toEqual([{ name: "Sleeping Guardian Identity", address: "no-reply@localhost" }]);
    expect(addressesOf(received.parsed.to)).toEqual(["alice@example.com"]);
    expect(received.parsed.subject).toBe("Aurelius asks you to approve: Buy 38 NVDA");
    const text = received.parsed.text ?? "";
    const html = typeof received.parsed.html === "string" ? received.parsed.html : "";
    for (const body of [text, html]) {
      for (const part of ["BUY", "38 shares", "NVDA", "131.20 USD per share", bindingMessage]) expect(body).toContain(part);
    }

    const approve = urlsOf(text).find((u) => u.startsWith(`${app.url}/oidc/approve/`) && !u.includes("?"));
    expect(approve).toBeDefined();
    expect(hrefsOf(html)).toEqual(expect.arrayContaining([approve, `${approve}?decision=deny`]));
    const copy = (await (await asInvestor(app.url, "/api/inbox")).json()) as { messages: { id: string; delivery: string; subject: string }[] };
    expect(copy.messages.find((m) => m.subject === received.parsed.subject)?.delivery).toBe("smtp");

    // The link, opened over HTTP, shows the app's approval page for this request.
    const user = new ApprovalPageUser();
    const opened = await user.open(approve!);
    expect(opened.status).toBe(200);
    expect(opened.html).toContain("Aurelius wants to buy 38 NVDA");
    expect(opened.html).toContain(`data-testid="binding-message">${bindingMessage}<`);
    const signIn = await user.post(`${approve}/sign-in`, { csrf: user.csrf, username: "alice@example.com", password: PASSWORD, decision: "approve" });
    expect(signIn.status).toBe(303);
    const review = await user.open(new URL(signIn.location!, approve).href);
    expect(review.html).toContain(`data-testid="order-id">${detail.order_id}<`);
    // Nothing is decided by opening it: the request is still pending.
    expect(await pollOnce(app, ack.auth_req_id)).toMatchObject({ status: 400, body: { error: "authorization_pending" } });
  });
});
