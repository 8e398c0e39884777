import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { mcpEndpointFor } from "@/mcp/endpoint";

export const dynamic = "force-dynamic";

/**
 * /mcp — the stock-trading MCP server (Streamable HTTP, stateless, JSON responses).
 * Gate first (Origin, bearer token, JWKS verification), then handle (body limits, JSON-RPC,
 * tools with per-tool scopes and order binding). PUT/PATCH get Next's 405.
 */
async function serve(request: Request): Promise<Response> {
  // Requests with a body skip proxy.ts: the same Host check, first (lib/net/allowed-hosts.ts).
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  const mcp = mcpEndpointFor(await getRuntime());
  const auth = await mcp.gate(request);
  if (auth instanceof Response) return auth;
  return mcp.handle(request, auth);
}

export { serve as GET, serve as POST, serve as DELETE };
