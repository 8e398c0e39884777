import net from "node:net";
import { describe, expect, it, vi } from "vitest";
import { parseConfig } from "@/lib/config";
import { getMail, listMail } from "@/lib/idp/mailbox";
import { createMailer, SMTP_TIMEOUTS } from "@/lib/idp/mailer";
import { freePort } from "../helpers/app-server";
import { addressesOf, startSmtpSink } from "../helpers/smtp-sink";
import { useTestDb } from "../helpers/store";

/**
 * The mailer: the embedded mailbox by default; with SMTP_URL real SMTP as well (a real SMTP
 * server on loopback, tests/helpers/smtp-sink.ts, that parses what it receives as a mail client
 * would), and the mailbox keeps a copy either way. A failed delivery (a refused recipient, no
 * server, a server that stalls) leaves the copy marked smtp_failed and ends within a bound.
 */
const db = useTestDb((store) => store.query("DELETE FROM idp_mailbox"));

const mail = { to: "alice@example.com", subject: "Approve?", text: "Order ord_1", html: "<p>Order</p>", links: { approve: "http://x/a", deny: "http://x/d" } };
const smtpConfig = (url: string) => parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://", SMTP_URL: url });

describe("mailer", () => {
  it("records the mail in the mailbox and reports it", async () => {
    const onMail = vi.fn();
    const mailer = createMailer({ config: parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://" }), db, onMail });
    const id = await mailer.send(mail);
    mailer.close();
    expect(onMail).toHaveBeenCalledWith(id, "alice@example.com");
    const stored = await getMail(db, id);
    // Read for another address (another investor's mailbox), it is not there.
    expect(await getMail(db, id, "bob@example.com")).toBeUndefined();
    expect(await getMail(db, id, "ALICE@example.com")).toMatchObject({ id });
    expect(stored).toMatchObject({ subject: "Approve?", to: "alice@example.com", read: false, delivery: "mailbox", links: mail.links });
    expect(stored!.messageId).toMatch(/^<.+@.+>$/);
    expect((await listMail(db))[0]!.id).toBe(id);
  });

  it("sends over SMTP when SMTP_URL is set, and keeps a copy with the same Message-ID", async () => {
    const sink = await startSmtpSink();
    try {
      const mailer = createMailer({ config: smtpConfig(sink.url), db });
      const id = await mailer.send(mail);
      mailer.close();
      const stored = await getMail(db, id);
      expect(stored?.delivery).toBe("smtp");
      expect(sink.messages).toHaveLength(1);
      const received = sink.messages[0]!;
      expect(received.envelope).toEqual({ from: "no-reply@localhost", to: ["alice@example.com"] });
      expect(received.parsed.from?.value).toEqual([{ name: "Sleeping Guardian Identity", address: "no-reply@localhost" }]);
      expect(addressesOf(received.parsed.to)).toEqual(["alice@example.com"]);
      expect(received.parsed.subject).toBe("Approve?");
      expect(received.parsed.text?.trim()).toBe("Order ord_1");
      expect(received.parsed.html).toBe("<p>Order</p>");
      expect(received.parsed.messageId).toBe(stored!.messageId);
    } finally {
      await sink.close();
    }
  });

  it("sends from SMTP_FROM when set, in the envelope and the From header", async () => {
    const sink = await startSmtpSink();
    try {
      const config = parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://", SMTP_URL: sink.url, SMTP_FROM: "approvals@bank.example" });
      const mailer = createMailer({ config, db });
      await mailer.send(mail);
      mailer.close();
      const received = sink.messages[0]!;
      expect(received.envelope.from).toBe("approvals@bank.example");
      expect(received.parsed.from?.value).toEqual([{ name: "Sleeping Guardian Identity", address: "approvals@bank.example" }]);
    } finally {
      await sink.close();
    }
  });

  it("refuses an SMTP_FROM that is not an address, naming the variable", () => {
    expect(() => parseConfig({ NODE_ENV: "test", SMTP_FROM: "Approvals <a@b.example>\r\nBcc: x@evil.example" })).toThrow(/SMTP_FROM/);
  });

  it("keeps the mail in the mailbox, marked smtp_failed, when the server refuses the recipient", async () => {
    const sink = await startSmtpSink({ refuseRecipients: true });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const mailer = createMailer({ config: smtpConfig(sink.url), db });
      const id = await mailer.send(mail);
      mailer.close();
      expect(sink.refused).toEqual(["alice@example.com"]);
      expect(sink.messages).toEqual([]);
      expect(await getMail(db, id)).toMatchObject({ delivery: "smtp_failed", subject: "Approve?", text: "Order ord_1", links: mail.links });
      const logged = warn.mock.calls.flat().join(" ");
      expect(logged).toMatch(new RegExp(`SMTP delivery of mail ${id} failed \\(EENVELOPE\\)`));
      expect(logged).not.toContain("Order ord_1");
      expect(logged).not.toContain(sink.url);
    } finally {
      warn.mockRestore();
      await sink.close();
    }
  });

  it("keeps the mail readable in the mailbox when no SMTP server listens", async () => {
    const port = await freePort(); // nothing listens there
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const mailer = createMailer({ config: smtpConfig(`smtp://user:smtp-password-1@127.0.0.1:${port}`), db });
    const id = await mailer.send(mail);
    mailer.close();
    expect((await getMail(db, id))?.delivery).toBe("smtp_failed");
    const logged = warn.mock.calls.flat().join(" ");
    expect(logged).toMatch(/\(ESOCKET\)/); // connection refused
    expect(logged).not.toContain("Order ord_1");
    expect(logged).not.toContain("smtp-password-1");
    warn.mockRestore();
  });

  it("gives up on a server that accepts the connection and never greets, within its bound", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const mailer = createMailer({ config: smtpConfig(`smtp://127.0.0.1:${(silent.address() as net.AddressInfo).port}`), db });
      const started = Date.now();
      const id = await mailer.send(mail);
      const took = Date.now() - started;
      mailer.close();
      expect((await getMail(db, id))?.delivery).toBe("smtp_failed");
      expect(took).toBeGreaterThanOrEqual(SMTP_TIMEOUTS.greetingTimeout - 500);
      expect(took).toBeLessThan(SMTP_TIMEOUTS.greetingTimeout + 5000);
      expect(warn.mock.calls.flat().join(" ")).toMatch(/\(ETIMEDOUT\)/);
    } finally {
      warn.mockRestore();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  }, 30_000);
});
