import { simpleParser, type AddressObject, type ParsedMail } from "mailparser";
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerAddress } from "smtp-server";

/**
 * A real SMTP server on loopback (smtp-server, the server half of nodemailer's project) that
 * accepts every message and keeps it, parsed by mailparser as a mail client would read it: the
 * headers, the text and HTML bodies decoded from their transfer encoding. Plain SMTP without
 * STARTTLS or AUTH, so `smtp://127.0.0.1:{port}` reaches it. While `refuseRecipients` is true
 * it answers every RCPT TO with a permanent 550, as a server does for an unknown mailbox.
 */
export interface ReceivedMail {
  /** The SMTP envelope (MAIL FROM, RCPT TO), which may differ from the headers. */
  envelope: { from: string | null; to: string[] };
  parsed: ParsedMail;
  /** The message as it came over the wire. */
  raw: string;
}

export interface SmtpSink {
  /** The SMTP_URL to configure. */
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** Refuse every recipient from now on (true), or accept them again (false). */
  refuseRecipients: boolean;
  /** Recipients refused so far. */
  refused: string[];
  /** Resolves with the first message that `match` accepts (waiting for it to arrive). */
  waitForMessage(match?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export interface SmtpSinkOptions {
  refuseRecipients?: boolean;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const refused: string[] = [];
  const state = { refuseRecipients: options.refuseRecipients ?? false };
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    size: 1024 * 1024,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      if (!state.refuseRecipients) return callback();
      refused.push(address.address);
      callback(Object.assign(new Error(`5.1.1 <${address.address}>: mailbox unavailable`), { responseCode: 550 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        simpleParser(raw).then(
          (parsed) => {
            const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : null;
            messages.push({ envelope: { from, to: session.envelope.rcptTo.map((r) => r.address) }, parsed, raw });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    get refuseRecipients() {
      return state.refuseRecipients;
    },
    set refuseRecipients(value: boolean) {
      state.refuseRecipients = value;
    },
    refused,
    async waitForMessage(match = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching message arrived over SMTP (${messages.length} received)`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The addresses of a parsed address header ("Name" <a@b> → a@b). */
export function addressesOf(header: AddressObject | AddressObject[] | undefined): string[] {
  return [header ?? []].flat().flatMap((h) => h.value.map((v) => v.address ?? ""));
}

/** Every href of an HTML body, entity-decoded as a browser reads it. */
export function hrefsOf(html: string): string[] {
  return [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">"));
}

/** Every http(s) URL in a text body. */
export function urlsOf(text: string): string[] {
  return [...text.matchAll(/https?:\/\/[^\s<>"]+/g)].map((m) => m[0]);
}
