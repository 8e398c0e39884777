import "server-only";
import { randomBytes } from "node:crypto";
import type { Queryable } from "../store/db";
import { toIso } from "../time";

/**
 * The embedded mailbox (table idp_mailbox): every mail the embedded server sends, newest first,
 * with a read flag. /inbox and /api/inbox read it; the mailer writes it.
 */
export interface MailSummary {
  id: string;
  from: string;
  to: string;
  subject: string;
  snippet: string;
  createdAt: string;
  read: boolean;
  delivery: "mailbox" | "smtp" | "smtp_failed";
}

export interface Mail extends MailSummary {
  messageId: string | null;
  text: string;
  html: string;
  links: Record<string, string>;
}

type Row = {
  id: string;
  message_id: string | null;
  from_address: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  links: Record<string, string> | null;
  delivery: MailSummary["delivery"];
  created_at: Date | string;
  read_at: Date | string | null;
};

function snippetOf(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 140 ? `${flat.slice(0, 139)}…` : flat;
}

function summaryOf(r: Row): MailSummary {
  return {
    id: r.id,
    from: r.from_address,
    to: r.to_address,
    subject: r.subject,
    snippet: snippetOf(r.text_body),
    createdAt: toIso(r.created_at),
    read: r.read_at !== null,
    delivery: r.delivery,
  };
}

/** The shape of a mail id (newMailId): what /inbox/{id} and /api/inbox/{id} accept. */
export const MAIL_ID_PATTERN = /^msg_[A-Za-z0-9_-]{8,40}$/;

export function newMailId(): string {
  return `msg_${randomBytes(12).toString("base64url")}`;
}

export interface NewMail {
  id: string;
  messageId?: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  links?: Record<string, string>;
  delivery: MailSummary["delivery"];
}

export async function recordMail(db: Queryable, mail: NewMail): Promise<void> {
  await db.query(
    `INSERT INTO idp_mailbox (id, message_id, from_address, to_address, subject, text_body, html_body, links, delivery)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [mail.id, mail.messageId ?? null, mail.from, mail.to, mail.subject, mail.text, mail.html, JSON.stringify(mail.links ?? {}), mail.delivery],
  );
}

/*
 * `to` scopes a read to one investor's mail (the address it was sent to, case-insensitive):
 * /inbox and /api/inbox always pass the signed-in investor's address. Without it, the whole
 * mailbox (the embedded server's own view, and tests).
 */
const TO = "($2::text IS NULL OR lower(to_address) = lower($2::text))";

export async function listMail(db: Queryable, limit = 100, to?: string): Promise<MailSummary[]> {
  const rows = await db.query<Row>(`SELECT * FROM idp_mailbox WHERE ${TO} ORDER BY seq DESC LIMIT $1`, [limit, to ?? null]);
  return rows.map(summaryOf);
}

export async function countUnread(db: Queryable, to?: string): Promise<number> {
  const rows = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM idp_mailbox WHERE read_at IS NULL AND ($1::text IS NULL OR lower(to_address) = lower($1::text))`, [to ?? null]);
  return rows[0]?.n ?? 0;
}

export async function getMail(db: Queryable, id: string, to?: string): Promise<Mail | undefined> {
  const rows = await db.query<Row>(`SELECT * FROM idp_mailbox WHERE id = $1 AND ${TO}`, [id, to ?? null]);
  const r = rows[0];
  if (!r) return undefined;
  return { ...summaryOf(r), messageId: r.message_id, text: r.text_body, html: r.html_body, links: r.links ?? {} };
}

/** Marks a mail read (opening it in /inbox does this, as a mail client would). */
export async function markMailRead(db: Queryable, id: string, to?: string): Promise<void> {
  await db.query(`UPDATE idp_mailbox SET read_at = now() WHERE id = $1 AND read_at IS NULL AND ${TO}`, [id, to ?? null]);
}
