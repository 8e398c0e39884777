import Link from "next/link";
import type { Mail, MailSummary } from "@/lib/idp/mailbox";
import LiveRefresh from "./live-refresh";

/**
 * The embedded mailbox, laid out like a mail client: the message list on the left (newest first,
 * unread in bold with a dot), the open message on the right. The message body is the email's own
 * HTML in a sandboxed frame (no scripts, no same-origin access); its links may only navigate the
 * whole tab, on a click, as a mail client opens a link.
 */
export function MailboxView({ owner, mails, open }: { owner: string; mails: MailSummary[]; open?: Mail }) {
  const unread = mails.filter((m) => !m.read).length;
  return (
    <div className="flex h-dvh flex-col" data-testid="mailbox">
      <LiveRefresh />
      <header className="flex flex-wrap items-center justify-between gap-3 border-b border-slate-800 bg-slate-900/70 px-4 py-3">
        <div className="flex items-center gap-3">
          <MailGlyph />
          <div>
            <h1 className="text-base font-bold leading-tight tracking-tight">Mailbox</h1>
            <p className="text-xs text-slate-400" data-testid="mailbox-owner">{owner}</p>
          </div>
          <span className="rounded-full bg-sky-500/15 px-2.5 py-0.5 text-xs font-semibold text-sky-300 ring-1 ring-sky-500/30" data-testid="unread-count">
            {unread} unread
          </span>
        </div>
        <div className="flex items-center gap-2 text-xs">
          <span className="rounded-full bg-amber-500/10 px-2.5 py-1 font-medium text-amber-300 ring-1 ring-amber-500/30">Embedded mailbox · development</span>
          <Link href="/" className="rounded-full bg-slate-800 px-2.5 py-1 text-slate-200 hover:bg-slate-700 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-400">
            ← Dashboard
          </Link>
        </div>
      </header>

      <div className="flex min-h-0 flex-1">
        <nav aria-label="Messages" className={`${open ? "hidden md:block" : "block"} w-full shrink-0 overflow-y-auto border-r border-slate-800 md:w-[23rem]`}>
          {mails.length === 0 ? (
            <p data-testid="mailbox-empty" className="m-4 rounded-xl border border-dashed border-slate-700 px-4 py-8 text-center text-sm text-slate-400">
              No mail yet. When the agent asks for approval, the request arrives here.
            </p>
          ) : (
            <ul data-testid="mail-list" className="divide-y divide-slate-800/80">
              {mails.map((m) => (
                <li key={m.id}>
                  <MailRow mail={m} active={m.id === open?.id} />
                </li>
              ))}
            </ul>
          )}
        </nav>

        <main className={`${open ? "flex" : "hidden md:flex"} min-w-0 flex-1 flex-col`} data-testid="mail-view">
          {open ? <OpenMail mail={open} /> : <NothingOpen count={mails.length} />}
        </main>
      </div>
    </div>
  );
}

function MailRow({ mail, active }: { mail: MailSummary; active: boolean }) {
  return (
    <Link
      href={`/inbox/${mail.id}`}
      data-testid="mail-item"
      data-mail-id={mail.id}
      data-unread={mail.read ? "false" : "true"}
      aria-current={active ? "page" : undefined}
      className={`block px-4 py-3 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-sky-400 ${
        active ? "bg-sky-500/10" : "hover:bg-slate-900"
      }`}
    >
      <div className="flex items-center gap-2">
        <span className={`h-2 w-2 shrink-0 rounded-full ${mail.read ? "bg-transparent" : "bg-sky-400"}`} aria-hidden />
        <span className={`min-w-0 flex-1 truncate text-sm ${mail.read ? "text-slate-300" : "font-semibold text-slate-50"}`}>{senderName(mail.from)}</span>
        <time className="shrink-0 text-xs tabular-nums text-slate-500" dateTime={mail.createdAt}>
          {shortTime(mail.createdAt)}
        </time>
      </div>
      <p className={`mt-0.5 truncate pl-4 text-sm ${mail.read ? "text-slate-400" : "font-semibold text-slate-100"}`} data-testid="mail-subject">
        {mail.subject}
      </p>
      <p className="mt-0.5 line-clamp-2 pl-4 text-xs text-slate-500">{mail.snippet}</p>
      {!mail.read && <span className="sr-only">Unread</span>}
    </Link>
  );
}

function OpenMail({ mail }: { mail: Mail }) {
  return (
    <>
      <div className="border-b border-slate-800 px-5 py-4">
        <Link href="/inbox" className="mb-2 inline-block text-xs text-sky-300 hover:underline md:hidden">
          ← All messages
        </Link>
        <h2 className="text-lg font-bold leading-snug text-slate-50" data-testid="open-mail-subject">
          {mail.subject}
        </h2>
        <dl className="mt-2 grid grid-cols-[3.5rem_1fr] gap-x-2 gap-y-0.5 text-xs text-slate-400">
          <dt>From</dt>
          <dd className="truncate text-slate-300">{mail.from.replace(/"/g, "")}</dd>
          <dt>To</dt>
          <dd className="truncate text-slate-300">{mail.to}</dd>
          <dt>Date</dt>
          <dd className="text-slate-300">{new Date(mail.createdAt).toUTCString()}</dd>
        </dl>
        {mail.delivery !== "mailbox" && (
          <p className="mt-2 text-xs text-slate-500">{mail.delivery === "smtp" ? "Also delivered over SMTP." : "SMTP delivery failed; this copy is the only one."}</p>
        )}
      </div>
      <iframe
        title={`Message: ${mail.subject}`}
        srcDoc={mail.html}
        sandbox="allow-top-navigation-by-user-activation"
        referrerPolicy="no-referrer"
        className="min-h-[36rem] w-full flex-1 border-0 bg-slate-950"
        data-testid="mail-body"
      />
    </>
  );
}

function NothingOpen({ count }: { count: number }) {
  return (
    <div className="m-auto max-w-sm p-6 text-center text-sm text-slate-400">
      <MailGlyph large />
      <p className="mt-3">{count ? "Select a message to read it." : "Nothing here yet."}</p>
    </div>
  );
}

function MailGlyph({ large = false }: { large?: boolean }) {
  return (
    <svg viewBox="0 0 24 24" className={`${large ? "mx-auto h-10 w-10 text-slate-600" : "h-6 w-6 text-sky-400"}`} fill="none" stroke="currentColor" strokeWidth={2} strokeLinecap="round" strokeLinejoin="round" aria-hidden>
      <rect x="3" y="5" width="18" height="14" rx="2" />
      <path d="M3 7l9 6 9-6" />
    </svg>
  );
}

/** `"Sleeping Guardian Identity" <no-reply@localhost>` → `Sleeping Guardian Identity`. */
function senderName(from: string): string {
  const match = /^"?([^"<]+?)"?\s*</.exec(from);
  return match?.[1] ?? from;
}

function shortTime(iso: string): string {
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
}
