import type { SpecRef } from "./types";

/**
 * The specification sections the messages of the flow follow, one constant per section, so a
 * link is spelled once. OpenID CIBA Core 1.0 (poll mode), OAuth 2.0 Bearer Token Usage (RFC 6750),
 * Token Exchange (RFC 8693), Rich Authorization Requests (RFC 9396), DPoP (RFC 9449) and the MCP
 * authorization specification.
 */
const CIBA = "https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html";
const MCP_AUTH = "https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization";
const rfc = (n: number, section: string) => `https://www.rfc-editor.org/rfc/rfc${n}#section-${section}`;

export const SPEC = {
  rarRequest: { label: "RFC 9396 §2", href: rfc(9396, "2") },
  rarToken: { label: "RFC 9396 §7", href: rfc(9396, "7") },
  rarResourceServer: { label: "RFC 9396 §9", href: rfc(9396, "9") },
  mcpTokenUse: { label: "MCP authorization: access token usage", href: `${MCP_AUTH}#access-token-usage` },
  mcpScopeChallenge: { label: "MCP authorization: scope challenge", href: `${MCP_AUTH}#scope-challenge-handling` },
  bearerChallenge: { label: "RFC 6750 §3", href: rfc(6750, "3") },
  rarRemediation: {
    label: "OAuth RAR error remediation (draft)",
    href: "https://datatracker.ietf.org/doc/draft-ietf-oauth-rar-metadata-remediation/",
  },
  bearerErrors: { label: "RFC 6750 §3.1", href: rfc(6750, "3.1") },
  cibaRequest: { label: "CIBA Core §7.1", href: `${CIBA}#rfc.section.7.1` },
  cibaAck: { label: "CIBA Core §7.3", href: `${CIBA}#rfc.section.7.3` },
  cibaConsent: { label: "CIBA Core §8", href: `${CIBA}#rfc.section.8` },
  cibaTokenRequest: { label: "CIBA Core §10.1", href: `${CIBA}#rfc.section.10.1` },
  cibaTokenResponse: { label: "CIBA Core §10.1.1", href: `${CIBA}#rfc.section.10.1.1` },
  cibaTokenError: { label: "CIBA Core §11", href: `${CIBA}#rfc.section.11` },
  actorToken: { label: "RFC 8693 §2.1", href: rfc(8693, "2.1") },
  actClaim: { label: "RFC 8693 §4.1", href: rfc(8693, "4.1") },
  dpopUse: { label: "RFC 9449 §7", href: rfc(9449, "7") },
} as const satisfies Record<string, SpecRef>;
