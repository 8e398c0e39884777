import { CookieJar, investorPasswordFor, publicOriginOf, TEST_INVESTOR_EMAIL } from "./investor-session";

/**
 * A standard MCP client's side of OAuth, for tests: an in-memory OAuthClientProvider (the shape
 * both the v1 `@modelcontextprotocol/sdk` and the v2 `@modelcontextprotocol/client` call), and
 * Alice's browser driven over HTTP through the embedded server's login and consent pages, as
 * signInOverHttp does for the dashboard. The redirect back to the client's loopback address is
 * not followed: its code, state and iss are read from the Location header.
 */
export const CLIENT_REDIRECT = "http://127.0.0.1:49152/callback";

export class MemoryOAuthProvider {
  authorizationUrl: URL | undefined;
  private info: Record<string, unknown> | undefined;
  private saved: Record<string, unknown> | undefined;
  private verifier = "";
  private discovery: unknown;
  readonly stateValue = `st-${Math.random().toString(36).slice(2)}`;

  constructor(readonly clientName: string, readonly extraMetadata: Record<string, unknown> = {}) {}

  get redirectUrl() {
    return CLIENT_REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [CLIENT_REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...this.extraMetadata,
    };
  }
  state() {
    return this.stateValue;
  }
  clientInformation() {
    return this.info as never;
  }
  saveClientInformation(info: Record<string, unknown>) {
    this.info = info;
  }
  tokens() {
    return this.saved as never;
  }
  saveTokens(tokens: Record<string, unknown>) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  saveDiscoveryState(state: unknown) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery as never;
  }
  invalidateCredentials(scope: string) {
    if (scope === "all" || scope === "client") this.info = undefined;
    if (scope === "all" || scope === "tokens") this.saved = undefined;
  }
  get accessToken(): string | undefined {
    return this.saved?.access_token as string | undefined;
  }
  get refreshToken(): string | undefined {
    return this.saved?.refresh_token as string | undefined;
  }
  get clientId(): string | undefined {
    return this.info?.client_id as string | undefined;
  }
}

export interface BrowserRun {
  /** Where the server finally sent the browser (the client's redirect URI with code or error). */
  callback: URL;
  loginHtml: string;
  consentHtml: string | undefined;
  consentPage: string | undefined;
  jar: CookieJar;
}

/** Alice opens the authorization URL, signs in, and allows (or denies) on the consent screen. */
export async function authorizeAsAlice(appUrl: string, authorizationUrl: URL | string, decision: "allow" | "deny" = "allow", jar = new CookieJar()): Promise<BrowserRun> {
  const origin = publicOriginOf(appUrl);
  let last = String(authorizationUrl);
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    last = url;
    const res = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), cookie: jar.header() }, redirect: "manual" });
    jar.keep(res);
    return res;
  };
  /** Follows redirects on the server's origin; stops at the client's redirect URI. */
  const follow = async (res: Response): Promise<Response | URL> => {
    while (res.status === 302 || res.status === 303) {
      const location = new URL(res.headers.get("location")!, last);
      await res.arrayBuffer();
      if (location.origin !== new URL(appUrl).origin) return location;
      res = await go(location.toString());
    }
    return res;
  };
  const submit = async (html: string, action: RegExp, fields: Record<string, string>) => {
    const target = action.exec(html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!target || !csrf) throw new Error(`no form matching ${action} on ${last}:\n${html.slice(0, 800)}`);
    return go(new URL(target, last).toString(), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: new URLSearchParams({ csrf, ...fields }).toString(),
    });
  };

  const loginPage = await follow(await go(String(authorizationUrl)));
  if (loginPage instanceof URL) throw new Error(`sent back to the client before sign-in: ${loginPage}`);
  const loginHtml = await loginPage.text();
  const afterLogin = await follow(
    await submit(loginHtml, /action="([^"]*\/login)"/, { username: TEST_INVESTOR_EMAIL, password: investorPasswordFor(appUrl) }),
  );
  if (afterLogin instanceof URL) return { callback: afterLogin, loginHtml, consentHtml: undefined, consentPage: undefined, jar };
  const consentPage = last;
  const consentHtml = await afterLogin.text();
  const answered = await follow(await submit(consentHtml, decision === "allow" ? /action="([^"]*\/consent)"/ : /action="([^"]*\/abort)"/, {}));
  if (!(answered instanceof URL)) throw new Error(`no redirect to the client after consent (${answered.status}):\n${(await answered.text()).slice(0, 800)}`);
  return { callback: answered, loginHtml, consentHtml, consentPage, jar };
}
