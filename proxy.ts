import type { NextRequest } from "next/server";
import { refuseMisdirected } from "./lib/net/allowed-hosts";

/**
 * Runs before every request without a body (Next.js Proxy, Node.js runtime): a `Host` the
 * configuration does not name gets 421 Misdirected Request (RFC 9110 §15.5.20) before any page or
 * route sees it, the app's defence against DNS rebinding (lib/net/allowed-hosts.ts).
 *
 * Requests with a body are left to the routes that take one, which make the same check first:
 * for a request the Proxy runs on, Next reads the whole body before the Proxy and the route run,
 * which would undo the routes' body limits (a 413 on the declared length, before a byte is read).
 */
export function proxy(request: NextRequest): Response | undefined {
  return refuseMisdirected(request);
}

export const config = {
  matcher: [
    {
      source: "/:path*",
      missing: [
        { type: "header", key: "content-length" },
        { type: "header", key: "transfer-encoding" },
      ],
    },
  ],
};
