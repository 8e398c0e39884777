/**
 * "This machine": the hosts on which plain http is allowed (a local identity server, a test
 * fake). No "server-only" here: lib/config.ts imports it and must stay importable anywhere.
 */

/** A URL hostname (WHATWG form: IPv6 in brackets) naming this machine. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "127.0.0.1" || hostname === "[::1]";
}

/** A plain-http URL on this machine. */
export function isLoopbackHttp(href: string | URL): boolean {
  const url = new URL(href);
  return url.protocol === "http:" && isLoopbackHost(url.hostname);
}
