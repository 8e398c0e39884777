/**
 * Alice signing in to the dashboard over real HTTP, as her browser would: the app's
 * /auth/sign-in, the embedded identity server's login page (form token, Origin), the redirect
 * back with the code, and the session cookie the app sets. Nothing here reaches into the app.
 *
 * Test helpers that read or press Alice's things (agentOf, press, Alice.inbox) go through
 * `asInvestor`, which signs in once per app and keeps the cookie; the store keeps sessions, so
 * they survive a restart of the app.
 */

/** The password startApp gives the investor unless a test chooses one (INVESTOR_PASSWORD). */
export const TEST_INVESTOR_PASSWORD = "alice-test-password-default";
export const TEST_INVESTOR_EMAIL = "alice@example.com";

const passwords = new Map<string, string>();
/** A CA the "browser" trusts for an app's identity server (a self-signed tenant the user accepted). */
const browserCas = new Map<string, string>();

/** Alice's browser trusts this CA (PEM) on the way to the app's identity server. */
export function trustInBrowser(appUrl: string, pem: string): void {
  browserCas.set(appUrl, pem);
}
const publicOrigins = new Map<string, string>();
const sessions = new Map<string, Promise<string>>();

/**
 * Which password the app at `appUrl` was started with, and its PUBLIC_URL when that is another
 * address (an instance behind a load balancer): its pages' Origin. startApp calls this.
 */
export function rememberInvestorPassword(appUrl: string, password: string, publicUrl = appUrl): void {
  passwords.set(appUrl, password);
  publicOrigins.set(appUrl, new URL(publicUrl).origin);
  sessions.delete(appUrl);
}

/** The Origin the app's own pages send: its PUBLIC_URL's. */
export function publicOriginOf(appUrl: string): string {
  return publicOrigins.get(appUrl) ?? new URL(appUrl).origin;
}

/** The investor's password at the app at `appUrl` (startApp's, or the default). */
export function investorPasswordFor(appUrl: string): string {
  return passwords.get(appUrl) ?? TEST_INVESTOR_PASSWORD;
}

/** A cookie jar that sends every cookie it holds; enough for one origin's redirects. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === "" || /max-age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

export interface SignInTrace {
  /** The `sg_session` cookie, as a Cookie header value. */
  cookie: string;
  /** Every URL the browser was sent to, in order (redirects included). */
  visited: string[];
  jar: CookieJar;
}

/**
 * Signs in at the app like a browser: follows the redirects by hand (keeping cookies), fills the
 * login form, and returns the session cookie. Throws with the page shown when anything differs
 * from a successful sign-in.
 */
export async function signInOverHttp(appUrl: string, credentials: { username?: string; password?: string } = {}, jar = new CookieJar()): Promise<SignInTrace> {
  const username = credentials.username ?? TEST_INVESTOR_EMAIL;
  const password = credentials.password ?? investorPasswordFor(appUrl);
  const visited: string[] = [];
  const ca = browserCas.get(appUrl);
  const dispatcher = ca ? new (await import("undici")).Agent({ connect: { ca: [...(await import("node:tls")).rootCertificates, ca] } }) : undefined;
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    visited.push(url);
    const res = await fetch(url, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
      redirect: "manual",
      ...(dispatcher ? { dispatcher } : {}),
    } as RequestInit);
    jar.keep(res);
    return res;
  };
  const follow = async (res: Response): Promise<Response> => {
    while (res.status === 302 || res.status === 303) {
      // Relative to where the browser is (the public URL after the first hop, not the instance).
      const location = new URL(res.headers.get("location")!, res.url).toString();
      await res.arrayBuffer();
      res = await go(location);
    }
    return res;
  };

  const form = await follow(await go(`${appUrl}/auth/sign-in`));
  // The form posts back to where it was shown, with that page's Origin.
  const formPage = visited.at(-1)!;
  const html = await form.text();
  // The first form that asks for a password (the embedded login page, or a tenant's hosted one),
  // with its hidden fields as they are.
  const login = [...html.matchAll(/<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/gi)].find((m) => m[2]!.includes('type="password"'));
  const action = login?.[1];
  if (form.status !== 200 || !action) throw new Error(`no login form (status ${form.status}):\n${html.slice(0, 600)}`);
  const hidden = Object.fromEntries([...login![2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  const posted = await go(new URL(action, formPage).toString(), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(formPage).origin },
    body: new URLSearchParams({ ...hidden, username, password }).toString(),
  });
  if (posted.status !== 303 && posted.status !== 302) throw new Error(`the login form answered ${posted.status}:\n${(await posted.text()).slice(0, 600)}`);
  const end = await follow(posted);
  await end.arrayBuffer();
  const session = jar.get("sg_session");
  if (!session) throw new Error(`no session after sign-in (last page ${visited.at(-1)} answered ${end.status})`);
  return { cookie: `sg_session=${session}`, visited, jar };
}

/** Alice's session cookie for the app at `appUrl`, signing in the first time. */
export function investorCookie(appUrl: string): Promise<string> {
  let pending = sessions.get(appUrl);
  if (!pending) {
    pending = signInOverHttp(appUrl).then((t) => t.cookie);
    pending.catch(() => sessions.delete(appUrl));
    sessions.set(appUrl, pending);
  }
  return pending;
}

/**
 * A request of Alice's own browser: her session cookie, and for anything but GET the app's
 * Origin, as a browser sends it. Signs in again once if the session was refused (401).
 */
export async function asInvestor(appUrl: string, path: string, init: RequestInit = {}): Promise<Response> {
  const send = async () => {
    const headers = new Headers(init.headers);
    headers.set("cookie", await investorCookie(appUrl));
    if ((init.method ?? "GET") !== "GET" && !headers.has("origin")) headers.set("origin", publicOriginOf(appUrl));
    return fetch(`${appUrl}${path}`, { ...init, headers });
  };
  const res = await send().catch(() => send());
  if (res.status !== 401) return res;
  sessions.delete(appUrl);
  await res.arrayBuffer();
  return send();
}
