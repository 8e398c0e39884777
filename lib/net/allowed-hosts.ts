import { getConfig } from "../config";
import { isLoopbackHost } from "./loopback";

/**
 * DNS rebinding: a page served from an attacker's name that later resolves to 127.0.0.1 reaches
 * this app from Alice's own browser, same-origin as far as the browser knows, and can read what
 * the app answers. The one thing it cannot change is the `Host` header, which names the
 * attacker's host. So the app answers only requests whose `Host` is a host its configuration
 * names: PUBLIC_URL's (the one source of the app's origin), and AGENT_INTERNAL_URL's, through
 * which the in-process agent reaches /oidc and /mcp. When PUBLIC_URL is on this machine, the other
 * spellings of this machine on the same port are accepted too (localhost, 127.0.0.1, [::1]): no
 * attacker's page can carry them.
 */

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** The `Host` values the app answers, lower case, each with and without the scheme's default port. */
export function allowedHosts(urls: readonly string[]): ReadonlySet<string> {
  const hosts = new Set<string>();
  for (const href of urls) {
    const url = new URL(href);
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    const names = isLoopbackHost(url.hostname) ? LOOPBACK_NAMES : [url.hostname];
    for (const name of names) {
      hosts.add(`${name}:${port}`);
      if (!url.port) hosts.add(name);
    }
  }
  return hosts;
}

/** A `Host` header (RFC 9110 §7.2: host [":" port]) that names one of `allowed`. */
export function hostAllowed(host: string | null, allowed: ReadonlySet<string>): boolean {
  if (host === null || host.length > 300 || !/^[A-Za-z0-9.\-[\]:]+$/.test(host)) return false;
  return allowed.has(host.toLowerCase());
}

let configured: { publicUrl: string; hosts: ReadonlySet<string> } | undefined;

/**
 * The 421 for a request whose `Host` the configuration does not name, or undefined. Called by
 * proxy.ts for every request without a body, and by each route that takes a body at its start
 * (a Next.js Proxy that runs for a request with a body makes Next read the whole body first).
 */
export function refuseMisdirected(request: Request): Response | undefined {
  if (!configured) {
    const config = getConfig();
    configured = { publicUrl: config.publicUrl, hosts: allowedHosts([config.publicUrl, config.agent.internalUrl]) };
  }
  if (hostAllowed(request.headers.get("host"), configured.hosts)) return undefined;
  const { publicUrl } = configured;
  return new Response(
    `Misdirected request: this app answers only for the host of its PUBLIC_URL (${publicUrl}). ` +
      `Open ${publicUrl}/, or set PUBLIC_URL to the address you use.\n`,
    { status: 421, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } },
  );
}
