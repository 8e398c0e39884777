import "server-only";
import type { FetchLike } from "../net/fetch";

export type { FetchLike };

/**
 * The fetch the in-process agent uses for this app's own endpoints (/mcp, /oidc). Tokens name the
 * public URL (issuer, audience, resource), but the server may not be able to reach itself
 * through it (a TLS proxy in front, a container's published port). Requests for PUBLIC_URL's
 * origin therefore go to AGENT_INTERNAL_URL instead, same path and query; everything else (a real
 * WSO2 or Auth0 server) is fetched as it is.
 */
export function createAppFetch(publicUrl: string, internalUrl: string, base: FetchLike = fetch): FetchLike {
  const publicOrigin = new URL(publicUrl).origin;
  const internal = new URL(internalUrl);
  if (internal.origin === publicOrigin) return base;
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    if (url.origin !== publicOrigin) return base(input, init);
    const target = new URL(`${url.pathname}${url.search}`, internal.origin);
    if (input instanceof Request) return base(new Request(target, input), init);
    return base(target, init);
  };
}
