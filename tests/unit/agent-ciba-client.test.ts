import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ProtocolError } from "@/lib/errors";
import { decodeJwt } from "jose";
import { pollUntilDecided, schedule, startPollState, type CibaPollState } from "@/lib/auth/ciba-poller";
import { ACCESS_TOKEN_TYPE } from "@/lib/protocol";
import { createEmbeddedProfile } from "@/lib/auth/profiles/embedded";
import type { IdentityServerProfile } from "@/lib/auth/profiles/types";
import { freezeOrder } from "@/lib/orders/freeze";
import { oauthError, pending, startFakeIdp, tokenResponse, type FakeIdp } from "../helpers/agent-fake-idp";

/**
 * The CIBA client (OpenID CIBA Core 1.0, poll mode) against a scripted identity server over real
 * HTTP: the request it sends, the pace it polls at (interval, 5 s default, slow_down), where it
 * stops, and how it rides out an unreachable server. Waits are recorded by an injected sleep so
 * the pacing is asserted exactly; one test also checks the real spacing of requests.
 */
let idp: FakeIdp;
let profile: IdentityServerProfile;

beforeAll(async () => {
  idp = await startFakeIdp();
  profile = createEmbeddedProfile({
    issuer: idp.issuer,
    clientId: "aurelius-agent",
    clientSecret: "s3cret-s3cret-s3cret",
    resource: "http://localhost:3000/mcp",
    loginHint: "alice@example.com",
    fetch: (input, init) => fetch(input, init),
  });
});
afterAll(() => idp?.close());
afterEach(() => {
  idp.requests.length = 0;
  idp.scriptToken();
});

const order = freezeOrder({ symbol: "NVDA", side: "buy", quantity: 37, limitPriceCents: 13252, maxNotionalCents: 500000, expiresAt: new Date(Date.now() + 180_000) });
const obo = { sub: "alice", act: { sub: "aurelius" }, scope: "openid stock:read stock:trade", authorization_details: [order] };

/** Polls with a sleep that records the requested waits and returns at once. */
async function pollRecording(state: CibaPollState, extra: { now?: () => Date; signal?: AbortSignal } = {}) {
  const waits: number[] = [];
  const progress: CibaPollState[] = [];
  const final = await pollUntilDecided(state, {
    poll: (id) => profile.pollCiba(id),
    sleep: async (ms) => void waits.push(ms),
    onProgress: (s) => void progress.push(s),
    now: extra.now ?? (() => virtualNow),
    signal: extra.signal,
  });
  return { final, waits, progress };
}

// A virtual clock that the recording sleep does not advance: every wait is measured from "now".
let virtualNow = new Date("2030-01-01T00:00:00Z");
const fresh = (interval?: number, expiresIn = 120) => startPollState({ authReqId: "req-1", expiresIn, interval }, virtualNow);

describe("backchannel authentication request (§7.1)", () => {
  it("sends the order, the binding message and the agent token as actor_token, with client authentication", async () => {
    idp.scriptAck({ status: 200, body: { auth_req_id: "req-42", expires_in: 120, interval: 2 } });
    const ack = await profile.startCiba({ order, bindingMessage: "BUY 37 NVDA max 132.52 USD #ABCD", actorToken: "agent.jwt.token", requestedExpirySeconds: 120 });
    expect(ack).toEqual({ authReqId: "req-42", expiresIn: 120, interval: 2 });
    const sent = idp.requests.find((r) => r.path === "/bc-authorize")!;
    expect(Object.fromEntries(sent.form)).toEqual({
      scope: "openid stock:read stock:trade",
      login_hint: "alice@example.com",
      binding_message: "BUY 37 NVDA max 132.52 USD #ABCD",
      authorization_details: JSON.stringify([order]),
      resource: "http://localhost:3000/mcp",
      requested_expiry: "120",
      actor_token: "agent.jwt.token",
      actor_token_type: ACCESS_TOKEN_TYPE,
      // openid-client names the client in the body too; authentication is the Basic header.
      client_id: "aurelius-agent",
    });
    // RFC 6749 §2.3.1: id and secret are form-encoded before Basic (so "-" travels as %2D).
    expect(sent.authorization).toBe(`Basic ${Buffer.from("aurelius%2Dagent:s3cret%2Ds3cret%2Ds3cret").toString("base64")}`);
  });

  it("reports an acknowledgement without interval as such (the poller then waits 5 s)", async () => {
    idp.scriptAck({ status: 200, body: { auth_req_id: "req-43", expires_in: 60 } });
    const ack = await profile.startCiba({ order, bindingMessage: "x", actorToken: "t", requestedExpirySeconds: 60 });
    expect(ack.interval).toBeUndefined();
    expect(startPollState(ack, virtualNow).intervalSeconds).toBe(5);
  });

  it("surfaces a refusal with its CIBA error code and no pending request", async () => {
    idp.scriptAck({ status: 400, body: { error: "invalid_binding_message", error_description: "bad" } });
    const error = await profile.startCiba({ order, bindingMessage: "x", actorToken: "t", requestedExpirySeconds: 60 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: "invalid_binding_message", retryable: false });
  });

  it("marks an unreachable server as such", async () => {
    idp.scriptAck("drop");
    const error = await profile.startCiba({ order, bindingMessage: "x", actorToken: "t", requestedExpirySeconds: 60 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ProtocolError", retryable: true });
  });
});

describe("polling the token endpoint (§10.1, §11)", () => {
  it("waits one interval before the first poll and between polls, then returns the token", async () => {
    idp.scriptToken(pending, pending, tokenResponse(obo, { authorization_details: [order] }));
    const { final, waits } = await pollRecording(fresh(2));
    expect(waits).toEqual([2000, 2000, 2000]);
    expect(final.kind).toBe("approved");
    if (final.kind !== "approved") return;
    expect(final.token.claims).toMatchObject({ sub: "alice", act: { sub: "aurelius" } });
    expect(final.token.authorizationDetails).toEqual([order]);
    expect(final.token.scopes).toEqual(["openid", "stock:read", "stock:trade"]);
    const polls = idp.tokenRequests();
    expect(polls).toHaveLength(3);
    for (const p of polls) {
      expect(Object.fromEntries(p.form)).toEqual({ grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: "req-1" });
      expect(p.authorization).toMatch(/^Basic /);
    }
  });

  it("waits 5 s when the server sent no interval", async () => {
    idp.scriptToken(pending, tokenResponse(obo));
    const { waits } = await pollRecording(fresh(undefined));
    expect(waits).toEqual([5000, 5000]);
  });

  it("adds 5 s on slow_down, for this and every later poll", async () => {
    idp.scriptToken(pending, oauthError("slow_down"), pending, oauthError("slow_down"), pending, tokenResponse(obo));
    const { waits, progress } = await pollRecording(fresh(2));
    expect(waits).toEqual([2000, 2000, 7000, 7000, 12000, 12000]);
    expect(progress.map((p) => p.intervalSeconds)).toEqual([2, 7, 7, 12, 12]);
  });

  it("honours a longer Retry-After with slow_down (Auth0) without shortening the interval", async () => {
    idp.scriptToken(oauthError("slow_down", { "Retry-After": "20" }), pending, tokenResponse(obo));
    const { waits } = await pollRecording(fresh(5));
    expect(waits).toEqual([5000, 20000, 10000]);
  });

  it.each([
    ["a longer interval in the slow_down body (Auth0) becomes the interval of every later poll", 30, [5000, 30_000, 30_000, 30_000], [30, 30]],
    ["a shorter one never shortens the 5 s step", 3, [5000, 10_000, 10_000, 10_000], [10, 10]],
  ])("%s", async (_name, interval, expectedWaits, intervals) => {
    idp.scriptToken({ status: 400, body: { error: "slow_down", error_description: "You are polling faster than allowed.", interval } }, pending, pending, tokenResponse(obo));
    const { final, waits, progress } = await pollRecording(fresh(5));
    expect(final.kind).toBe("approved");
    expect(waits).toEqual(expectedWaits);
    expect(progress.slice(0, 2).map((p) => p.intervalSeconds)).toEqual(intervals);
  });

  it("ignores an interval in the slow_down body that is not a positive whole number of seconds", async () => {
    idp.scriptToken({ status: 400, body: { error: "slow_down", interval: "60" } }, { status: 400, body: { error: "slow_down", interval: -1 } }, tokenResponse(obo));
    const { waits } = await pollRecording(fresh(2));
    expect(waits).toEqual([2000, 7000, 12_000]);
  });

  it.each([
    ["access_denied", "denied"],
    ["expired_token", "expired"],
    ["invalid_grant", "invalid"],
    ["invalid_request", "invalid"],
    ["invalid_client", "invalid"],
  ])("stops on %s", async (error, kind) => {
    idp.scriptToken(pending, oauthError(error), pending, tokenResponse(obo));
    const { final } = await pollRecording(fresh(1));
    expect(final).toMatchObject({ kind, error });
    expect(idp.tokenRequests()).toHaveLength(2);
  });

  it("keeps the request and backs off while the server is unreachable, then carries on", async () => {
    idp.scriptToken(pending, "drop", { status: 503, body: { error: "temporarily_unavailable" } }, { status: 502, body: "<html>bad gateway</html>" }, pending, tokenResponse(obo));
    const { final, waits, progress } = await pollRecording(fresh(2));
    expect(final.kind).toBe("approved");
    // interval 2: pending → 2; failures 1, 2, 3 → 2, 4, 8; back to normal → 2
    expect(waits).toEqual([2000, 2000, 2000, 4000, 8000, 2000]);
    expect(progress.map((p) => p.failures)).toEqual([0, 1, 2, 3, 0]);
  });

  it("gives up locally once the request has expired, without polling again", async () => {
    let clock = virtualNow.getTime();
    idp.scriptToken(pending, pending);
    const state = fresh(2, 1);
    const final = await pollUntilDecided(state, {
      poll: (id) => profile.pollCiba(id),
      sleep: async (ms) => void (clock += ms),
      now: () => new Date(clock),
    });
    expect(final).toMatchObject({ kind: "expired", error: "expired_token" });
    expect(idp.tokenRequests()).toHaveLength(1);
  });

  it("stops when aborted (reset, shutdown)", async () => {
    const abort = new AbortController();
    abort.abort(new Error("stopped"));
    await expect(pollRecording(fresh(1), { signal: abort.signal })).rejects.toThrow("stopped");
    expect(idp.tokenRequests()).toHaveLength(0);
  });

  it("spaces real requests by the interval and the slow_down increment", async () => {
    idp.scriptToken(pending, oauthError("slow_down"), tokenResponse(obo));
    // interval 1 s: polls at ~1 s, ~2 s, then ~8 s (1 + 5 + 1 = 6 s after the second).
    const start = Date.now();
    const final = await pollUntilDecided(startPollState({ authReqId: "req-1", expiresIn: 60, interval: 1 }, new Date()), { poll: (id) => profile.pollCiba(id) });
    expect(final.kind).toBe("approved");
    const at = idp.tokenRequests().map((r) => r.at - start);
    expect(at[0]).toBeGreaterThanOrEqual(990);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(990);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(5990);
    expect(at[2]! - at[1]!).toBeLessThan(7500);
  });

  it("never schedules faster than the interval", () => {
    const s = fresh(3);
    expect(schedule(s, { kind: "pending" }, virtualNow).nextPollAt.getTime() - virtualNow.getTime()).toBe(3000);
    expect(schedule(s, { kind: "unreachable", message: "x" }, virtualNow).nextPollAt.getTime() - virtualNow.getTime()).toBe(3000);
    expect(schedule({ ...s, failures: 10 }, { kind: "unreachable", message: "x" }, virtualNow).nextPollAt.getTime() - virtualNow.getTime()).toBe(60000);
  });
});

describe("agent token (client credentials)", () => {
  it("asks for openid stock:read for the MCP resource, with client authentication", async () => {
    idp.scriptToken(tokenResponse({ sub: "aurelius", scope: "openid stock:read", aud: "http://localhost:3000/mcp" }));
    const token = await profile.getAgentToken();
    expect(token.claims).toMatchObject({ sub: "aurelius", scope: "openid stock:read" });
    expect(decodeJwt(token.accessToken).sub).toBe("aurelius");
    const [request] = idp.tokenRequests();
    expect(Object.fromEntries(request!.form)).toEqual({ grant_type: "client_credentials", scope: "openid stock:read", resource: "http://localhost:3000/mcp" });
  });
});
