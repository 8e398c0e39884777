import { notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { proxyToEmbeddedIdp } from "@/lib/idp/proxy";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/**
 * RFC 8414 §3: the embedded server's metadata at the well-known URL with its issuer path
 * inserted (issuer PUBLIC_URL/oidc → /.well-known/oauth-authorization-server/oidc), the first URL
 * MCP clients try. The document is oidc-provider's discovery document (RFC 8414 §3.2 allows the
 * same content), served by the same proxy; its `issuer` is PUBLIC_URL/oidc.
 */
export async function GET(request: Request): Promise<Response> {
  const rt = await getRuntime();
  if (!rt.idp) {
    return errorResponse(notFound(`The embedded identity server is off (AUTH_PROVIDER=${rt.config.auth.provider}).`));
  }
  const target = new URL("/oidc/.well-known/openid-configuration", request.url);
  try {
    const upstream = await proxyToEmbeddedIdp(new Request(target, { headers: request.headers }), rt.idp.port, rt.config.publicUrl);
    const headers = new Headers(upstream.headers);
    headers.set("Access-Control-Allow-Origin", "*");
    return new Response(upstream.body, { status: upstream.status, headers });
  } catch (error) {
    console.error("[oidc] metadata from the embedded identity server failed:", (error as Error).message);
    return json({ error: "temporarily_unavailable", error_description: "The identity server is not reachable." }, 503);
  }
}
