/**
 * Development only: `next dev` compiles each route on its first request, so the first click on a
 * control (or the first open of the mailbox) waits seconds for a compiler. Once the server answers,
 * warmRoutes() requests each route that the dashboard, the mailbox and the approval page use, all at
 * once (the compiler shares the work between them), so that they are compiled before anyone clicks.
 *
 * Every request is a GET that changes nothing: a route that takes only POST answers a GET with
 * 405 from Next itself (compiled, never run); a page's redirect is not followed (it could open a
 * sign-in at the identity server); the mail id cannot exist; the event stream is dropped as soon
 * as it answers. A page's own scripts and styles are fetched too, which compiles them.
 */
import type { FetchLike } from "./net/fetch";

export const WARM_PATHS = [
  // The dashboard, its stream and data, and its controls (POST-only: 405).
  "/",
  "/api/events",
  "/api/state",
  "/api/agent",
  "/api/agent/assurance",
  "/api/market/crash",
  "/api/agent/pause",
  "/api/agent/mandate",
  // The mailbox: the list, one mail (an id no mail has), their data.
  "/inbox",
  "/inbox/warm-up",
  "/api/inbox",
  "/api/inbox/warm-up",
  // The approval page is served by the embedded identity server behind /oidc.
  "/oidc/.well-known/openid-configuration",
] as const;

export interface WarmUpOptions {
  fetch?: FetchLike;
  /** How long to wait for the server to answer at all. */
  readyTimeoutMs?: number;
  log?: (message: string) => void;
}

/** Waits for `baseUrl` to answer, then requests each of WARM_PATHS once. Never throws. */
export async function warmRoutes(baseUrl: string, options: WarmUpOptions = {}): Promise<void> {
  const { fetch: get = fetch, readyTimeoutMs = 120_000, log = console.log } = options;
  const started = Date.now();
  try {
    while (!(await answers(get, `${baseUrl}/api/health`))) {
      if (Date.now() - started > readyTimeoutMs) return log(`[dev] route warm-up skipped: ${baseUrl} did not answer`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const answered = await Promise.all(WARM_PATHS.map((path) => warm(get, baseUrl, path)));
    const failed = WARM_PATHS.filter((_, i) => !answered[i]);
    log(
      `[dev] routes warmed: ${WARM_PATHS.length - failed.length} of ${WARM_PATHS.length} in ${((Date.now() - started) / 1000).toFixed(1)} s` +
        (failed.length ? ` (no answer: ${failed.join(", ")})` : ""),
    );
  } catch (error) {
    log(`[dev] route warm-up stopped: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function answers(get: FetchLike, url: string): Promise<boolean> {
  try {
    const res = await get(url, { redirect: "manual" });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** One GET; an HTML page's scripts and stylesheets after it. Any answer counts: the route compiled. */
async function warm(get: FetchLike, baseUrl: string, path: string): Promise<boolean> {
  const stream = new AbortController();
  try {
    const res = await get(`${baseUrl}${path}`, { redirect: "manual", signal: stream.signal });
    if (res.headers.get("content-type")?.startsWith("text/event-stream")) {
      stream.abort();
      return true;
    }
    const body = await res.text();
    if (res.headers.get("content-type")?.startsWith("text/html")) {
      const assets = new Set([...body.matchAll(/(?:src|href)="(\/_next\/static\/[^"]+)"/g)].map((m) => m[1]!));
      await Promise.all([...assets].map((asset) => get(`${baseUrl}${asset}`).then((r) => r.arrayBuffer()).catch(() => undefined)));
    }
    return true;
  } catch {
    return false;
  }
}
