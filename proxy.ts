import { NextResponse, type NextRequest } from "next/server";
import { getConfig } from "./lib/config";
import { allowedHosts, hostAllowed } from "./lib/net/allowed-hosts";

/**
 * Runs before every request (Next.js Proxy, Node.js runtime): a request whose `Host` is not one
 * the configuration names is refused with 421 Misdirected Request (RFC 9110 §15.5.20) before any
 * route sees it. This is the app's defence against DNS rebinding (lib/net/allowed-hosts.ts).
 */
let allowed: ReadonlySet<string> | undefined;

export function proxy(request: NextRequest): NextResponse | undefined {
  if (!allowed) {
    const config = getConfig();
    allowed = allowedHosts([config.publicUrl, config.agent.internalUrl]);
  }
  if (hostAllowed(request.headers.get("host"), allowed)) return undefined;
  const publicUrl = getConfig().publicUrl;
  return new NextResponse(
    `Misdirected request: this app answers only for the host of its PUBLIC_URL (${publicUrl}). ` +
      `Open ${publicUrl}/, or set PUBLIC_URL to the address you use.\n`,
    { status: 421, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } },
  );
}
