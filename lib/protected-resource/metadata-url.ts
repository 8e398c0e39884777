/**
 * Where the protected resource metadata lives (RFC 9728 §3.1): the well-known prefix inserted
 * before the resource's path, so https://host/mcp → https://host/.well-known/oauth-protected-resource/mcp.
 * The MCP server serves it there and names it in its challenges; the doctor reads it.
 */
export function resourceMetadataUrl(resourceUrl: string): string {
  const url = new URL(resourceUrl);
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}
