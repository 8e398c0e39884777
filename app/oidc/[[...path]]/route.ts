import { notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { proxyToEmbeddedIdp } from "@/lib/idp/proxy";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/**
 * /oidc/* — the embedded authorization server (AUTH_PROVIDER=embedded). oidc-provider needs
 * Node's req/res, so it listens on a loopback port and this handler forwards to it. A route
 * handler rather than a rewrite in next.config.ts: rewrites are fixed at build time, the port is
 * chosen at start-up.
 */
async function forward(request: Request): Promise<Response> {
  // Requests with a body skip proxy.ts: the same Host check, first (lib/net/allowed-hosts.ts).
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  const rt = await getRuntime();
  if (!rt.idp) {
    return errorResponse(notFound(`The embedded identity server is off (AUTH_PROVIDER=${rt.config.auth.provider}).`));
  }
  try {
    return await proxyToEmbeddedIdp(request, rt.idp.port, rt.config.publicUrl);
  } catch (error) {
    console.error("[oidc] proxy to the embedded identity server failed:", (error as Error).message);
    return json({ error: "temporarily_unavailable", error_description: "The identity server is not reachable." }, 503);
  }
}

export const GET = forward;
export const HEAD = forward;
export const POST = forward;
export const PUT = forward;
export const PATCH = forward;
export const DELETE = forward;
export const OPTIONS = forward;
