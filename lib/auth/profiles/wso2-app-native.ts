import "server-only";
import * as client from "openid-client";
import type { FetchLike } from "../app-fetch";
import { describe } from "../oauth-errors";
import { ProtocolError, unreachable } from "../../errors";

/**
 * WSO2 Identity Server / Asgardeo app-native authentication: how an agent identity signs in with
 * its own id and secret, without a browser, and ends with an authorization code (exchanged with
 * PKCE by wso2.ts):
 *
 *   1. POST {base}/oauth2/authorize (form, Accept: application/json, response_mode=direct, PKCE
 *      S256) → { flowId, flowStatus: "INCOMPLETE", nextStep: { authenticators: [...] } }
 *   2. POST {base}/oauth2/authn (JSON) with the "Username & Password" authenticator and
 *      { username: agent id, password: agent secret } → { flowStatus: "SUCCESS_COMPLETED",
 *      authData: { code, ... } }
 *
 * Failures are ProtocolErrors with the server's code (OAuth `error`, or the API-based
 * authentication code such as ABA-60007 "App native authentication is not enabled"), so the
 * doctor can name the console setting to fix. The secret is sent, never logged or returned.
 */
export const USERNAME_PASSWORD = "Username & Password";

export interface AppNativeSettings {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
  agentId: string;
  agentSecret: string;
  fetch: FetchLike;
  timeoutMs?: number;
}

interface Authenticator {
  authenticatorId?: unknown;
  authenticator?: unknown;
  idp?: unknown;
}

interface FlowResponse {
  flowId?: unknown;
  flowStatus?: unknown;
  nextStep?: { stepType?: unknown; authenticators?: Authenticator[]; messages?: { type?: unknown; message?: unknown }[] };
  authData?: { code?: unknown };
}

/** Runs steps 1 and 2; returns the authorization code and the PKCE verifier that goes with it. */
export async function signInAgent(s: AppNativeSettings): Promise<{ code: string; codeVerifier: string }> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const started = await call(s, "/oauth2/authorize", {
    headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: s.clientId,
      // A confidential client authenticates here too (WSO2 app-native authentication).
      client_secret: s.clientSecret,
      response_type: "code",
      redirect_uri: s.redirectUri,
      scope: s.scope,
      response_mode: "direct",
      code_challenge: codeChallenge,
      code_challenge_method: "S256",
    }),
  });
  if (started.flowStatus !== "INCOMPLETE" || typeof started.flowId !== "string") {
    throw new ProtocolError("unexpected_response", `the authorize step answered flowStatus ${String(started.flowStatus)}`);
  }
  const authenticator = pickUsernamePassword(started);
  const finished = await call(s, "/oauth2/authn", {
    headers: { accept: "application/json", "content-type": "application/json" },
    body: JSON.stringify({
      flowId: started.flowId,
      selectedAuthenticator: { authenticatorId: authenticator, params: { username: s.agentId, password: s.agentSecret } },
    }),
  });
  if (finished.flowStatus === "SUCCESS_COMPLETED" && typeof finished.authData?.code === "string") {
    return { code: finished.authData.code, codeVerifier };
  }
  if (finished.flowStatus === "FAIL_INCOMPLETE" || finished.flowStatus === "FAIL_COMPLETED") {
    const message = finished.nextStep?.messages?.find((m) => typeof m.message === "string")?.message as string | undefined;
    throw new ProtocolError("authentication_failed", message ?? "the agent's id or secret was not accepted");
  }
  // INCOMPLETE again: the application asks for a second step (MFA) an agent cannot answer.
  throw new ProtocolError("unexpected_step", `the login flow asks for another step (${String(finished.nextStep?.stepType ?? finished.flowStatus)}); the agent can only use "${USERNAME_PASSWORD}"`);
}

function pickUsernamePassword(flow: FlowResponse): string {
  const offered = flow.nextStep?.authenticators ?? [];
  const basic = offered.find((a) => a.authenticator === USERNAME_PASSWORD && typeof a.authenticatorId === "string");
  if (!basic) {
    const names = offered.map((a) => String(a.authenticator)).join(", ") || "none";
    throw new ProtocolError("authenticator_unavailable", `the login flow offers ${names}, not "${USERNAME_PASSWORD}"`);
  }
  return basic.authenticatorId as string;
}

async function call(s: AppNativeSettings, path: string, init: { headers: Record<string, string>; body: string | URLSearchParams }): Promise<FlowResponse> {
  let response: Response;
  try {
    response = await s.fetch(`${s.baseUrl}${path}`, { method: "POST", ...init, redirect: "manual", signal: AbortSignal.timeout(s.timeoutMs ?? 10_000) });
  } catch (error) {
    throw unreachable("unreachable", describe(error));
  }
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (response.status >= 500) throw unreachable("unreachable", `${path} answered HTTP ${response.status}`);
  if (response.ok && body) return body as FlowResponse;
  throw agentTokenRefusal(path, response.status, body);
}

/** Both error shapes WSO2 uses here: OAuth `{error, error_description}` and API-based `{code, message, description}`. */
function agentTokenRefusal(path: string, status: number, body: Record<string, unknown> | undefined): ProtocolError {
  if (typeof body?.error === "string") {
    return new ProtocolError(body.error, typeof body.error_description === "string" ? body.error_description : "");
  }
  if (typeof body?.code === "string") {
    const text = [body.message, body.description].filter((t): t is string => typeof t === "string").join(" ");
    return new ProtocolError(body.code, text);
  }
  return new ProtocolError("unexpected_response", `${path} answered HTTP ${status}`);
}
