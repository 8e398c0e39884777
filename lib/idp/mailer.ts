import "server-only";
import { randomUUID } from "node:crypto";
import nodemailer, { type Transporter } from "nodemailer";
import type { AppConfig } from "../config";
import { announceDevDefault, assertDevDefaultAllowed } from "../dev-defaults";
import type { Queryable } from "../store/db";
import { newMailId, recordMail } from "./mailbox";

/**
 * Sends the server's mail. Default: the embedded mailbox (the store keeps the message, /inbox
 * shows it; nothing composes MIME for it). With SMTP_URL set the mail also goes out over SMTP for
 * real with nodemailer, and is still recorded so the demo can show it.
 */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Named links in the mail (approve, deny), kept so that tools and tests can follow them. */
  links?: Record<string, string>;
}

export interface Mailer {
  /** Sends a mail; returns its id in the embedded mailbox. */
  send(mail: OutgoingMail): Promise<string>;
  close(): void;
}

export interface MailerOptions {
  config: AppConfig;
  db: Queryable;
  /** Called after a mail landed in the mailbox (the runtime publishes it on the event bus). */
  onMail?: (id: string, to: string) => void;
}

/**
 * Bounds on one SMTP delivery. The mail is sent while the CIBA request waits for its answer, so a
 * server that accepts the connection and then stalls must not hold it for nodemailer's defaults
 * (30 s for the greeting, 10 min of silence). Query parameters of SMTP_URL override them.
 */
export const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 } as const;

export function createMailer({ config, db, onMail }: MailerOptions): Mailer {
  // A relay accepts only senders it knows: SMTP_FROM names one (no-reply@localhost will not do).
  const host = new URL(config.publicUrl).hostname;
  const address = config.mail.from ?? `no-reply@${host}`;
  const from = `"Sleeping Guardian Identity" <${address}>`;
  // RFC 5322 §3.6.4, in the form nodemailer gives one: a unique left part at the sender's domain.
  const domain = address.slice(address.lastIndexOf("@") + 1) || host;
  let smtp: Transporter | undefined;
  if (config.mail.smtpUrl) {
    smtp = nodemailer.createTransport({ ...SMTP_TIMEOUTS, url: config.mail.smtpUrl });
  } else {
    assertDevDefaultAllowed(config, "The embedded mailbox");
    announceDevDefault(
      "idp-mailbox",
      `Emails from the embedded identity server go to the embedded mailbox at ${config.publicUrl}/inbox: set SMTP_URL to send real mail.`,
    );
  }

  return {
    async send(mail) {
      const id = newMailId();
      const message = { from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html };
      const messageId = `<${randomUUID()}@${domain}>`;
      let delivery: "mailbox" | "smtp" | "smtp_failed" = "mailbox";
      if (smtp) {
        try {
          // The same Message-ID as the mailbox's copy: one message, delivered twice.
          await smtp.sendMail({ ...message, messageId });
          delivery = "smtp";
        } catch (error) {
          // The mail stays readable in /inbox; log the failure's code, never the message or the URL.
          delivery = "smtp_failed";
          console.warn(`[idp] SMTP delivery of mail ${id} failed (${(error as { code?: string }).code ?? "error"}); it is in /inbox`);
        }
      }
      await recordMail(db, { id, messageId, from, ...mail, delivery });
      onMail?.(id, mail.to);
      return id;
    },
    close() {
      smtp?.close();
    },
  };
}
