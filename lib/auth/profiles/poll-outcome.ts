import "server-only";
import type { ClassifiedError } from "../oauth-errors";
import type { CibaPollOutcome } from "./types";

/**
 * One failed CIBA token request (OpenID CIBA Core §11), already classified, as what the poller
 * does next. Shared by every profile; `access_denied` is passed through `onDenied`
 * because Auth0 uses it for expiry too.
 */
export function toPollOutcome(c: ClassifiedError, onDenied?: (description: string | undefined) => "denied" | "expired"): CibaPollOutcome {
  if (c.kind === "unreachable") return { kind: "unreachable", message: c.message };
  // The answer arrived but failed the client's checks (a forged ID token, say): the request is
  // over at the server, and what came back is never used.
  if (c.kind === "untrusted") return { kind: "invalid", error: c.code, description: c.message };
  switch (c.error) {
    case "authorization_pending":
      return { kind: "pending" };
    case "slow_down":
      // WSO2 adds 3 s itself; Auth0 sends Retry-After and may name the new interval in the body.
      // The poller adds 5 s and honours both (ciba-poller.ts schedule).
      return { kind: "slow_down", retryAfterSeconds: c.retryAfterSeconds, intervalSeconds: c.intervalSeconds };
    case "access_denied":
      return { kind: onDenied?.(c.description) ?? "denied", error: c.error, description: c.description };
    case "expired_token":
      return { kind: "expired", error: c.error, description: c.description };
    default:
      // invalid_grant (unknown, another client's or, at WSO2, an already redeemed id),
      // invalid_request (polled too fast, CIBA Core §11), invalid_client, ...: this auth_req_id
      // is finished.
      return { kind: "invalid", error: c.error, description: c.description };
  }
}
