import "server-only";

/**
 * Where a state-changing request from a browser came from (the approval page, the login page,
 * Alice's dashboard controls), as the browser says it: every POST must carry `Origin` equal to
 * the public origin (browsers send it on every POST; a request without it is not a form or fetch
 * of this app's pages), and `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`.
 * Cookies ignore ports and SameSite treats http://localhost:3188 as the same site as
 * http://localhost:3000, so neither the cookies nor SameSite can tell a page on another local
 * port from this one; the origin can (Fetch §3.1 "Origin header", Fetch Metadata
 * `Sec-Fetch-Site`). Pages are served with `Referrer-Policy: same-origin`: under `no-referrer` a
 * browser would send `Origin: null` even for its own forms.
 */
export function crossOriginProblem(request: Request, publicOrigin: string): string | undefined {
  const origin = request.headers.get("origin");
  if (!origin) return "the request carries no Origin header";
  if (origin !== publicOrigin) return `the request comes from ${origin.slice(0, 100)}, not ${publicOrigin}`;
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return `the browser reports a ${site.slice(0, 20)} request`;
  return undefined;
}
