import "server-only";
import type { BackchannelAuthenticationResponse } from "openid-client";
import { classifyOAuthError } from "../oauth-errors";
import { AgentTokenError, CibaRequestError, type CibaAcknowledgement } from "./types";

/**
 * What every profile does with a failed agent-token or CIBA request, and with a CIBA
 * acknowledgement: the same for the embedded server, WSO2 and Auth0.
 */

/** An OAuth error is the request's fault; anything else may pass (retry later). */
export async function agentTokenFailure(error: unknown): Promise<AgentTokenError> {
  const c = await classifyOAuthError(error);
  return c.kind === "oauth" ? new AgentTokenError(c.error, c.description, false) : new AgentTokenError("unreachable", c.message, true);
}

export async function cibaRequestFailure(error: unknown): Promise<CibaRequestError> {
  const c = await classifyOAuthError(error);
  return c.kind === "oauth" ? new CibaRequestError(c.error, c.description, false) : new CibaRequestError("unreachable", c.message, true);
}

/** CIBA Core §7.3; an absent or non-positive `interval` means the client's default (5 s). */
export function toAcknowledgement(ack: BackchannelAuthenticationResponse): CibaAcknowledgement {
  return {
    authReqId: ack.auth_req_id,
    expiresIn: ack.expires_in,
    interval: typeof ack.interval === "number" && ack.interval > 0 ? ack.interval : undefined,
  };
}
