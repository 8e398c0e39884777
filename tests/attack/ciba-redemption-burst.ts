import http from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { expect } from "vitest";
import { AGENT_CLIENT_ID, AGENT_SECRET, CIBA_GRANT } from "../integration/idp-support";

/** Shared by the CIBA redemption race tests (ciba-redemption-race*.test.ts). */

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * `n` CIBA token requests for one auth_req_id (the agent's client, HTTP Basic), written in the
 * same tick on `n` connections opened beforehand, so that they reach the server together rather
 * than one connection set-up apart.
 */
export async function redeemAtOnce(tokenUrl: string, authReqId: string, n: number): Promise<TokenAnswer[]> {
  const pool = new http.Agent({ keepAlive: true, maxSockets: n });
  try {
    const jwksUrl = tokenUrl.replace(/\/token$/, "/jwks");
    await Promise.all(Array.from({ length: n }, () => send(pool, jwksUrl, "GET")));
    const form = new URLSearchParams({ grant_type: CIBA_GRANT, auth_req_id: authReqId }).toString();
    return await Promise.all(Array.from({ length: n }, () => send(pool, tokenUrl, "POST", form)));
  } finally {
    pool.destroy();
  }
}

function send(pool: http.Agent, url: string, method: string, form?: string): Promise<TokenAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method,
      agent: pool,
      headers: {
        authorization: `Basic ${Buffer.from(`${AGENT_CLIENT_ID}:${AGENT_SECRET}`).toString("base64")}`,
        ...(form ? { "content-type": "application/x-www-form-urlencoded", "content-length": String(Buffer.byteLength(form)) } : {}),
      },
    });
    request.on("response", (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (d: string) => (text += d));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    request.on("error", reject);
    request.end(form);
  });
}

/**
 * Exactly one answer carries a token, valid and for the approved order; the other nine are
 * 400 invalid_grant with no token. `publicUrl` is the server's PUBLIC_URL (issuer PUBLIC_URL/oidc).
 */
export async function expectOneWinner(publicUrl: string, answers: TokenAnswer[], detail: Record<string, unknown>): Promise<void> {
  const issued = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status !== 200);
  expect(refused.map((a) => [a.status, a.body.error])).toEqual(Array.from({ length: answers.length - 1 }, () => [400, "invalid_grant"]));
  expect(issued).toHaveLength(1);
  for (const answer of refused) expect(answer.body).not.toHaveProperty("access_token");
  const { payload } = await jwtVerify(issued[0]!.body.access_token as string, createRemoteJWKSet(new URL(`${publicUrl}/oidc/jwks`)), {
    issuer: `${publicUrl}/oidc`,
    audience: `${publicUrl}/mcp`,
    typ: "at+jwt",
  });
  expect(payload).toMatchObject({ sub: "alice", act: { sub: "aurelius" }, authorization_details: [detail] });
}
