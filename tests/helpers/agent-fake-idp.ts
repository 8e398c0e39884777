import http from "node:http";
import type { AddressInfo } from "node:net";
import { UnsecuredJWT } from "jose";

/**
 * A scripted stand-in for an identity server's HTTP endpoints (discovery, token,
 * backchannel authentication) on a loopback port. Each token request takes the next scripted
 * answer; every request is recorded with its arrival time, form body and Authorization header.
 * "drop" closes the connection without an answer (the server is unreachable).
 */
export type Scripted = { status: number; body?: unknown; headers?: Record<string, string> } | "drop";

export interface RecordedRequest {
  at: number;
  path: string;
  form: URLSearchParams;
  authorization: string | undefined;
}

export interface FakeIdp {
  issuer: string;
  requests: RecordedRequest[];
  tokenRequests(): RecordedRequest[];
  /** Answers for POST /token, in order; when empty: authorization_pending. */
  scriptToken(...answers: Scripted[]): void;
  /** The answer for POST /bc-authorize. */
  scriptAck(answer: Scripted): void;
  close(): Promise<void>;
}

export const pending: Scripted = { status: 400, body: { error: "authorization_pending" } };
export const oauthError = (error: string, headers?: Record<string, string>): Scripted => ({ status: 400, body: { error, error_description: `${error} (scripted)` }, headers });

/** A token response like the embedded server's, with an unsigned JWT (clients only decode it). */
export function tokenResponse(claims: Record<string, unknown>, extra: Record<string, unknown> = {}): Scripted {
  const accessToken = new UnsecuredJWT(claims).setIssuedAt().setExpirationTime("5m").encode();
  return { status: 200, body: { access_token: accessToken, token_type: "Bearer", expires_in: 300, scope: claims.scope, ...extra } };
}

export async function startFakeIdp(): Promise<FakeIdp> {
  const requests: RecordedRequest[] = [];
  let tokenAnswers: Scripted[] = [];
  let ack: Scripted = { status: 200, body: { auth_req_id: "req-1", expires_in: 120, interval: 1 } };
  let issuer = "";

  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!;
      if (req.method === "GET" && path === "/.well-known/openid-configuration") {
        return send(res, {
          status: 200,
          body: {
            issuer,
            token_endpoint: `${issuer}/token`,
            backchannel_authentication_endpoint: `${issuer}/bc-authorize`,
            jwks_uri: `${issuer}/jwks`,
            backchannel_token_delivery_modes_supported: ["poll"],
            grant_types_supported: ["client_credentials", "urn:openid:params:grant-type:ciba"],
          },
        });
      }
      requests.push({ at: Date.now(), path, form: new URLSearchParams(body), authorization: req.headers.authorization });
      if (path === "/bc-authorize") return send(res, ack);
      if (path === "/token") return send(res, tokenAnswers.shift() ?? pending);
      send(res, { status: 404, body: { error: "not_found" } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    requests,
    tokenRequests: () => requests.filter((r) => r.path === "/token"),
    scriptToken: (...answers) => void (tokenAnswers = answers),
    scriptAck: (answer) => void (ack = answer),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: http.ServerResponse, answer: Scripted): void {
  if (answer === "drop") {
    res.socket?.destroy();
    return;
  }
  res.writeHead(answer.status, { "content-type": "application/json", "cache-control": "no-store", ...answer.headers });
  res.end(JSON.stringify(answer.body ?? {}));
}
