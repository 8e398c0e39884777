import "server-only";
import type { AuthInfo } from "@modelcontextprotocol/server";
import {
  invalidDPoPProofResponse,
  invalidRequestResponse,
  invalidTokenResponse,
  jsonRpcErrorResponse,
  keysUnavailableResponse,
  missingTokenResponse,
} from "./challenge";
import { ProtocolError } from "../lib/errors";
import { SCOPE_READ } from "../lib/protocol";
import { verifyDPoPProof, type ProofReplayStore } from "./dpop";
import type { Principal } from "../lib/protected-resource/principal";

/**
 * The gate in front of /mcp: it runs before any body is read and answers with a ready Response
 * when the request may not proceed (`const auth = await gate(req); if (auth instanceof Response)
 * return auth;`). In order:
 *
 * 1. `Origin`, when present, must be this app's own (MCP transport security: a web page must not
 *    drive the broker through the user's browser) → 403.
 * 2. A token in the query string (`?access_token=`) is refused with 400 `invalid_request`: RFC 6750
 *    §2.3 is a method this server does not support (tokens only in the Authorization header), and
 *    §3.1 names 400 invalid_request for an unsupported parameter or two methods at once. The
 *    token is never looked at, so a leaked URL token is never accepted.
 * 3. No `Authorization: Bearer` or `DPoP` → 401 with `resource_metadata`, `scope="stock:read"`
 *    (what a new client should ask for) and no error code (§3.1).
 * 4. A malformed Authorization header → 400 invalid_request.
 * 5. The token is verified (lib/protected-resource/verify-access-token.ts) → 401 invalid_token,
 *    or 503 if the keys are unreachable.
 * 5b. A token of a revoked agent (the kill switch, revocation.ts) → 401 invalid_token; 503 when the
 *    revocation record cannot be read (fail closed).
 * 6. Sender constraint (RFC 9449 §7): a token with `cnf` must come with the DPoP scheme and a valid
 *    proof from the key it names (dpop.ts) → else 401 invalid_token (bound token as Bearer, §7.2;
 *    a `cnf` without `jkt`, which this server cannot check; a DPoP-scheme token without `cnf`) or
 *    401 invalid_dpop_proof (§7.1). A `DPoP` header next to an unbound Bearer token is ignored.
 */

export type TokenVerifier = (token: string) => Promise<Principal>;

export interface GateOptions {
  resourceUrl: string;
  resourceMetadataUrl: string;
  /** Origins allowed to call (the app's public origin and the resource's). */
  allowedOrigins: string[];
  verify: TokenVerifier;
  /** Where accepted DPoP proofs are remembered, so that each is used once (RFC 9449 §11.1). */
  proofs: ProofReplayStore;
  /** Why a verified token is refused anyway (a revoked agent), or undefined. */
  revoked?: (principal: Principal) => Promise<string | undefined>;
  now?: () => number;
}

/** RFC 6750 §2.1 b64token (RFC 9449 §7.1 uses the same token68), bounded: a JWT access token is well under 8 KiB. */
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]{1,8192}=*) *$/i;

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
    const header = request.headers.get("authorization")?.trim() ?? "";
    const scheme = /^dpop(\s|$)/i.test(header) ? "DPoP" : /^bearer(\s|$)/i.test(header) ? "Bearer" : undefined;
    if (!scheme) return missingTokenResponse(metadata, SCOPE_READ);
    const match = CREDENTIALS.exec(header);
    if (!match) return invalidRequestResponse(`The Authorization header must be \`${scheme} <token>\`, once.`, metadata, scheme);
    const token = match[2]!;

    let principal: Principal;
    try {
      principal = await options.verify(token);
    } catch (error) {
      if (error instanceof ProtocolError && error.retryable) return keysUnavailableResponse();
      const description = error instanceof ProtocolError ? error.description : "The token is invalid.";
      return invalidTokenResponse(description, metadata, scheme);
    }
    if (options.revoked) {
      let refusal: string | undefined;
      try {
        refusal = await options.revoked(principal);
      } catch (error) {
        console.error("[mcp] revocation check failed:", error instanceof Error ? error.message : "unknown error");
        return keysUnavailableResponse("The token's revocation status could not be checked; retry shortly.");
      }
      if (refusal) return invalidTokenResponse(refusal, metadata, scheme);
    }
    const refused = await checkSenderConstraint(request, scheme, token, principal);
    if (refused) return refused;
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

  /** Step 6: undefined when the token may be used as presented, else the refusal. */
  async function checkSenderConstraint(request: Request, scheme: "Bearer" | "DPoP", token: string, principal: Principal): Promise<Response | undefined> {
    const cnf = principal.confirmation;
    if (cnf && cnf.jkt === null) return invalidTokenResponse("The token is bound by a confirmation method this server cannot check.", metadata, scheme);
    if (scheme === "Bearer") {
      return cnf ? invalidTokenResponse("The token is DPoP-bound: present it with the DPoP scheme and a DPoP proof.", metadata, "Bearer", true) : undefined;
    }
    if (!cnf?.jkt) return invalidTokenResponse("The token is not DPoP-bound: present it with the Bearer scheme.", metadata, "DPoP");
    try {
      await verifyDPoPProof({
        header: request.headers.get("dpop"),
        method: request.method,
        resourceUrl: options.resourceUrl,
        accessToken: token,
        jkt: cnf.jkt,
        replay: options.proofs,
        now: options.now,
      });
    } catch (error) {
      if (error instanceof ProtocolError && error.code === "invalid_dpop_proof") return invalidDPoPProofResponse(error.description, metadata);
      console.error("[mcp] DPoP replay store failed:", error instanceof Error ? error.message : "unknown error");
      return keysUnavailableResponse("The DPoP proof could not be checked; retry shortly.");
    }
    return undefined;
  }
}

/** The principal the gate attached, or undefined when the request did not pass the gate. */
export function principalOf(authInfo: AuthInfo | undefined): Principal | undefined {
  return authInfo?.extra?.principal as Principal | undefined;
}
