import "server-only";
import { declaredTooLarge, readLimitedBody } from "../net/body-limit";

/**
 * Forwards a request for PUBLIC_URL/oidc/* to the embedded server's loopback listener and its
 * answer back, unchanged: method, path and query, headers (cookies, Origin and Sec-Fetch-Site
 * included: the approval page checks them), the body, and redirects as they are
 * (`redirect: "manual"`, Location untouched). The public origin goes along as X-Forwarded-Host /
 * -Proto, which oidc-provider trusts (provider.proxy), so discovery and every URL it builds use
 * PUBLIC_URL, the origin its issuer names.
 *
 * Bodies are small forms and JSON (oidc-provider itself stops at 56 KiB): a body over
 * MAX_PROXY_BODY_BYTES is refused with 413 before it is forwarded, on its Content-Length before a
 * byte is read, or as soon as a chunked body crosses the limit.
 */
export const MAX_PROXY_BODY_BYTES = 64 * 1024;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

export async function proxyToEmbeddedIdp(request: Request, port: number, publicUrl: string): Promise<Response> {
  const incoming = new URL(request.url);
  const target = `http://127.0.0.1:${port}${incoming.pathname}${incoming.search}`;
  const pub = new URL(publicUrl);

  const headers = new Headers();
  request.headers.forEach((value, name) => {
    // The body is sent again, so its length and encoding are the fetch's business. (Node's fetch
    // sets its own Sec-Fetch-Mode; Origin and Sec-Fetch-Site go through as they came.)
    if (!HOP_BY_HOP.has(name) && name !== "content-length" && !name.startsWith("x-forwarded-")) headers.set(name, value);
  });
  headers.set("x-forwarded-host", pub.host);
  headers.set("x-forwarded-proto", pub.protocol.replace(":", ""));
  const forwardedFor = request.headers.get("x-forwarded-for");
  if (forwardedFor) headers.set("x-forwarded-for", forwardedFor);

  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  if (hasBody && declaredTooLarge(request, MAX_PROXY_BODY_BYTES)) return tooLarge();
  const body = hasBody && request.body !== null ? await readLimitedBody(request, MAX_PROXY_BODY_BYTES) : undefined;
  if (hasBody && request.body !== null && body === undefined) return tooLarge();
  const upstream = await fetch(target, {
    method: request.method,
    headers,
    body,
    redirect: "manual",
    signal: request.signal,
  } as RequestInit);

  const out = new Headers();
  upstream.headers.forEach((value, name) => {
    // fetch already decoded the body: its old length and encoding no longer apply.
    if (HOP_BY_HOP.has(name) || name === "set-cookie" || name === "content-length" || name === "content-encoding") return;
    out.set(name, value);
  });
  for (const cookie of upstream.headers.getSetCookie()) out.append("set-cookie", cookie);
  return new Response(hasBodyStatus(upstream.status) && request.method !== "HEAD" ? upstream.body : null, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: out,
  });
}

function tooLarge(): Response {
  return Response.json(
    { error: "invalid_request", error_description: `request body larger than ${MAX_PROXY_BODY_BYTES} bytes` },
    { status: 413, headers: { "Cache-Control": "no-store" } },
  );
}

function hasBodyStatus(status: number): boolean {
  return status !== 204 && status !== 304;
}
