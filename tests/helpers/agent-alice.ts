/**
 * Alice, driven over HTTP like a person with a mail client and a browser: she reads the embedded
 * mailbox (/api/inbox, signed in to the dashboard), opens the link from the approval email, signs in on the identity
 * server's page and presses Approve or Deny. Cookies and CSRF tokens are handled as a browser
 * would; nothing here reaches into the app's internals.
 */
import { asInvestor } from "./investor-session";

export interface MailSummary {
  id: string;
  subject: string;
  createdAt: string;
}

export class Alice {
  private cookies = new Map<string, string>();

  constructor(
    readonly appUrl: string,
    readonly email: string,
    readonly password: string,
  ) {}

  async inbox(): Promise<MailSummary[]> {
    const res = await asInvestor(this.appUrl, "/api/inbox");
    if (!res.ok) throw new Error(`/api/inbox answered ${res.status}`);
    return ((await res.json()) as { messages: MailSummary[] }).messages;
  }

  /** Waits for the newest approval mail that is not among `seen` and returns its links. */
  async waitForApprovalMail(seen: string[] = [], timeoutMs = 30_000): Promise<{ id: string; approve: string; deny: string }> {
    const deadline = Date.now() + timeoutMs;
    let last = "the inbox was never read";
    while (Date.now() < deadline) {
      // A polling loop tolerates a dropped connection (a keep-alive socket the server just closed).
      const messages = await this.inbox().catch((error: unknown) => {
        last = `the inbox answered: ${error instanceof Error ? error.message : String(error)}`;
        return undefined;
      });
      if (messages) last = `the inbox held ${messages.length} message(s), ${seen.length} of them seen before`;
      const fresh = messages?.find((m) => !seen.includes(m.id));
      if (fresh) {
        const mail = (await (await asInvestor(this.appUrl, `/api/inbox/${fresh.id}`)).json()) as { links: Record<string, string> };
        if (mail.links.approve && mail.links.deny) return { id: fresh.id, approve: mail.links.approve, deny: mail.links.deny };
        last = `mail ${fresh.id} has no approve and deny links`;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no approval mail arrived within ${timeoutMs} ms (${last})`);
  }

  private page: string | undefined;

  /** Opens the link, signs in, decides. Returns the final page's HTML. */
  async decide(link: string, decision: "approve" | "deny"): Promise<string> {
    await this.open(link, decision);
    return this.submit(decision);
  }

  /** Opens the link from the mail and signs in if asked: the decision form is on screen. */
  async open(link: string, decision: "approve" | "deny" = "approve"): Promise<void> {
    const url = new URL(link);
    // The mail names the public URL; go to the app's own origin (the same in tests).
    const page = new URL(`${url.pathname}${url.search}`, this.appUrl).toString();
    const base = page.split("?")[0]!;
    let html = await this.get(page);
    if (html.includes('data-testid="sign-in-form"')) {
      await this.post(`${base}/sign-in`, { csrf: this.csrf(), username: this.email, password: this.password, decision });
      html = await this.get(page);
    }
    if (!html.includes('data-testid="decision-form"')) throw new Error(`no decision form on the approval page:\n${html.slice(0, 500)}`);
    this.page = base;
  }

  /** Presses Approve or Deny on the open page. Returns the resulting page's HTML. */
  async submit(decision: "approve" | "deny"): Promise<string> {
    const base = this.page;
    if (!base) throw new Error("open() the approval page first");
    this.page = undefined;
    await this.post(`${base}/decision`, { csrf: this.csrf(), decision });
    return this.get(base);
  }

  private lastCsrf: string | undefined;

  /** The form token of the page last shown (the hidden `csrf` field). */
  private csrf(): string {
    if (!this.lastCsrf) throw new Error("no form token on the approval page");
    return this.lastCsrf;
  }

  private async get(url: string): Promise<string> {
    const res = await fetch(url, { headers: { cookie: this.cookieHeader() }, redirect: "manual" });
    this.keepCookies(res);
    const html = await res.text();
    this.lastCsrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? this.lastCsrf;
    return html;
  }

  private async post(url: string, form: Record<string, string>): Promise<void> {
    const res = await fetch(url, {
      method: "POST",
      // A browser names the page's origin on every POST; the approval page refuses a POST without it.
      headers: { cookie: this.cookieHeader(), "content-type": "application/x-www-form-urlencoded", origin: new URL(url).origin },
      body: new URLSearchParams(form).toString(),
      redirect: "manual",
    });
    this.keepCookies(res);
    if (res.status !== 303) throw new Error(`POST ${new URL(url).pathname} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }

  private keepCookies(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}
