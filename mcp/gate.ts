import "server-only";
import type { AuthInfo } from "@modelcontextprotocol/server";
import {
  invalidRequestResponse,
  invalidTokenResponse,
  jsonRpcErrorResponse,
  keysUnavailableResponse,
  missingTokenResponse,
} from "./challenge";
import type { Principal } from "./principal";
import { TokenError } from "./verify-token";

/**
 * The gate in front of /mcp: it runs before any body is read and answers with a ready Response
 * when the request may not proceed (`const auth = await gate(req); if (auth instanceof Response)
 * return auth;`). In order:
 *
 * 1. `Origin`, when present, must be this app's own (MCP transport security: a web page must not
 *    drive the broker through the user's browser) → 403.
 * 2. A token in the query string (`?access_token=`) is refused with 400 `invalid_request`: RFC 6750
 *    §2.3 is a method this server does not support (PROTOCOLS: "tokens only in the Authorization
 *    header"), and §3.1 names 400 invalid_request for an unsupported parameter or two methods at
 *    once. The token is never looked at, so a leaked URL token is never accepted.
 * 3. No `Authorization: Bearer` → 401 with `resource_metadata` and no error code (§3.1).
 * 4. A malformed Bearer header → 400 invalid_request.
 * 5. The token is verified (verify-token.ts) → 401 invalid_token, or 503 if the keys are unreachable.
 */

export type TokenVerifier = (token: string) => Promise<Principal>;

export interface GateOptions {
  resourceUrl: string;
  resourceMetadataUrl: string;
  /** Origins allowed to call (the app's public origin and the resource's). */
  allowedOrigins: string[];
  verify: TokenVerifier;
}

/** RFC 6750 §2.1 b64token, bounded: a JWT access token is well under 8 KiB. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,8192}=*) *$/i;

export function createGate(options: GateOptions): (request: Request) => Promise<AuthInfo | Response> {
  const allowedOrigins = new Set(options.allowedOrigins);
  const resource = new URL(options.resourceUrl);
  const metadata = options.resourceMetadataUrl;

  return async (request) => {
    const origin = request.headers.get("origin");
    if (origin !== null && !allowedOrigins.has(origin)) {
      return jsonRpcErrorResponse(403, -32000, "Forbidden: requests from this origin are not accepted.");
    }
    if (new URL(request.url).searchParams.has("access_token")) {
      return invalidRequestResponse("Send the access token in the Authorization header, never in the URL.", metadata);
    }
    const header = request.headers.get("authorization");
    if (header === null || header.trim() === "" || !/^bearer(\s|$)/i.test(header.trim())) {
      return missingTokenResponse(metadata);
    }
    const match = BEARER.exec(header.trim());
    if (!match) return invalidRequestResponse("The Authorization header must be `Bearer <token>`, once.", metadata);
    const token = match[1]!;

    let principal: Principal;
    try {
      principal = await options.verify(token);
    } catch (error) {
      if (error instanceof TokenError && error.code === "temporarily_unavailable") return keysUnavailableResponse();
      const description = error instanceof TokenError ? error.description : "The token is invalid.";
      return invalidTokenResponse(description, metadata);
    }
    return {
      token,
      clientId: principal.clientId ?? "",
      scopes: principal.scopes,
      expiresAt: principal.expiresAt,
      resource,
      resourceMetadataUrl: metadata,
      extra: { principal },
    };
  };
}

/** The principal the gate attached, or undefined when the request did not pass the gate. */
export function principalOf(authInfo: AuthInfo | undefined): Principal | undefined {
  return authInfo?.extra?.principal as Principal | undefined;
}
