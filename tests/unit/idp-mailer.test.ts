import net from "node:net";
import { describe, expect, it, vi } from "vitest";
import { parseConfig } from "@/lib/config";
import { getMail, listMail } from "@/lib/idp/mailbox";
import { createMailer } from "@/lib/idp/mailer";
import { freePort } from "../helpers/app-server";
import { useTestDb } from "../helpers/store";

/**
 * The mailer: the embedded mailbox by default; with SMTP_URL real SMTP as well (here a minimal
 * SMTP server on loopback that records what it receives), and the mailbox keeps a copy either way.
 */
const db = useTestDb((store) => store.query("DELETE FROM idp_mailbox"));

const mail = { to: "alice@example.com", subject: "Approve?", text: "Order ord_1", html: "<p>Order</p>", links: { approve: "http://x/a", deny: "http://x/d" } };

/** Just enough of RFC 5321 for nodemailer to deliver one message. */
async function startSmtpSink(): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const port = await freePort();
  const server = net.createServer((socket) => {
    let data = false;
    let buffer = "";
    socket.write("220 sink ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let i: number;
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (data) {
          if (line === ".") {
            data = false;
            socket.write("250 queued\r\n");
          } else received.push(line);
        } else if (/^(EHLO|HELO)/i.test(line)) socket.write("250 sink\r\n");
        else if (/^DATA/i.test(line)) {
          data = true;
          socket.write("354 go\r\n");
        } else if (/^QUIT/i.test(line)) socket.end("221 bye\r\n");
        else socket.write("250 ok\r\n");
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { url: `smtp://127.0.0.1:${port}`, received, close: () => new Promise((r) => server.close(() => r())) };
}

describe("mailer", () => {
  it("records the mail in the mailbox and reports it", async () => {
    const onMail = vi.fn();
    const mailer = createMailer({ config: parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://" }), db, onMail });
    const id = await mailer.send(mail);
    mailer.close();
    expect(onMail).toHaveBeenCalledWith(id);
    const stored = await getMail(db, id);
    expect(stored).toMatchObject({ subject: "Approve?", to: "alice@example.com", read: false, delivery: "mailbox", links: mail.links });
    expect(stored!.messageId).toMatch(/^<.+@.+>$/);
    expect((await listMail(db))[0]!.id).toBe(id);
  });

  it("sends over SMTP when SMTP_URL is set, and keeps a copy", async () => {
    const sink = await startSmtpSink();
    try {
      const config = parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://", SMTP_URL: `${sink.url}/?ignoreTLS=true` });
      const mailer = createMailer({ config, db });
      const id = await mailer.send(mail);
      mailer.close();
      expect((await getMail(db, id))?.delivery).toBe("smtp");
      expect(sink.received.join("\n")).toContain("Subject: Approve?");
    } finally {
      await sink.close();
    }
  });

  it("keeps the mail readable in the mailbox when SMTP fails", async () => {
    const port = await freePort(); // nothing listens there
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const config = parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://", SMTP_URL: `smtp://127.0.0.1:${port}` });
    const mailer = createMailer({ config, db });
    const id = await mailer.send(mail);
    mailer.close();
    expect((await getMail(db, id))?.delivery).toBe("smtp_failed");
    expect(warn.mock.calls.flat().join(" ")).not.toContain("Order ord_1");
    warn.mockRestore();
  });
});
