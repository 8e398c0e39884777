import { describe, expect, it } from "vitest";
import { crossOriginProblem } from "@/lib/net/origin-check";
import { browserNonces, cookieValues, createSessionCodec, DEVICE_TTL_SECONDS, newBrowserNonce, parseCookies, serializeCookie } from "@/lib/idp/decision-page/session";

/**
 * The approval page's sessions, device cookies and form tokens (sealed with iron-session) and its
 * origin check, negative cases first: a token from another page, purpose, browser, session or
 * account gives nothing.
 */
const codec = createSessionCodec("cookie-key-one-0123456789abcdef");
const HANDLE_A = `apr_${"A".repeat(43)}`;
const HANDLE_B = `apr_${"B".repeat(43)}`;
const T0 = Date.parse("2030-01-01T00:00:00Z");

describe("approval session", () => {
  it("is accepted only for the handle it was issued on", async () => {
    const { value } = await codec.issue("alice", HANDLE_A, T0);
    expect(await codec.read([value], HANDLE_B, T0)).toBeUndefined();
    expect(await codec.read([value], HANDLE_A, T0)).toMatchObject({ accountId: "alice", handle: HANDLE_A });
  });

  it("rejects tampered, foreign-key, expired and garbage values", async () => {
    const { value } = await codec.issue("alice", HANDLE_A, T0);
    const tampered = `${value.slice(0, 40)}${value[40] === "A" ? "B" : "A"}${value.slice(41)}`;
    expect(await codec.read([tampered], HANDLE_A, T0)).toBeUndefined();
    expect(await createSessionCodec("cookie-key-two-0123456789abcdef").read([value], HANDLE_A, T0)).toBeUndefined();
    expect(await codec.read([value], HANDLE_A, T0 + 16 * 60_000)).toBeUndefined();
    expect(await codec.read([], HANDLE_A, T0)).toBeUndefined();
    expect(await codec.read(["garbage", "", "x".repeat(5000)], HANDLE_A, T0)).toBeUndefined();
  });

  it("does not take a form token for a session", async () => {
    const token = await codec.formToken("decision", HANDLE_A, "sid", T0);
    expect(await codec.read([token], HANDLE_A, T0)).toBeUndefined();
  });

  it("finds the valid session among several cookie values of the same name", async () => {
    const { value, session } = await codec.issue("alice", HANDLE_A, T0);
    expect(await codec.read(["planted-by-another-port", value], HANDLE_A, T0)).toEqual(session);
  });

  it("gives every sign-in its own session id", async () => {
    const one = await codec.issue("alice", HANDLE_A, T0);
    const two = await codec.issue("alice", HANDLE_A, T0);
    expect(one.session.sessionId).not.toBe(two.session.sessionId);
  });
});

describe("device cookie", () => {
  it("is accepted only for the account it names", async () => {
    const { value, device } = await codec.issueDevice("alice", undefined, T0);
    expect(await codec.readDevice([value], "bob", T0)).toBeUndefined();
    expect(await codec.readDevice([value], "alice", T0)).toEqual(device);
    expect(device.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("rejects tampered, foreign-key, expired and garbage values", async () => {
    const { value } = await codec.issueDevice("alice", undefined, T0);
    const tampered = `${value.slice(0, 40)}${value[40] === "A" ? "B" : "A"}${value.slice(41)}`;
    expect(await codec.readDevice([tampered], "alice", T0)).toBeUndefined();
    expect(await createSessionCodec("cookie-key-two-0123456789abcdef").readDevice([value], "alice", T0)).toBeUndefined();
    expect(await codec.readDevice([value], "alice", T0 + (DEVICE_TTL_SECONDS + 1) * 1000)).toBeUndefined();
    expect(await codec.readDevice([], "alice", T0)).toBeUndefined();
    expect(await codec.readDevice(["garbage", "", "x".repeat(5000)], "alice", T0)).toBeUndefined();
  });

  it("is neither a session nor a form token, and neither of them is a device cookie", async () => {
    const device = await codec.issueDevice("alice", "dev-1", T0);
    const session = await codec.issue("alice", HANDLE_A, T0);
    const token = await codec.formToken("sign-in", HANDLE_A, "dev-1", T0);
    expect(await codec.read([device.value], HANDLE_A, T0)).toBeUndefined();
    expect(await codec.formTokenValid(device.value, "sign-in", HANDLE_A, ["dev-1"], T0)).toBe(false);
    expect(await codec.readDevice([session.value, token], "alice", T0)).toBeUndefined();
  });

  it("keeps its device id when renewed, lasts half a year, and is found among planted values", async () => {
    const first = await codec.issueDevice("alice", undefined, T0);
    const renewed = await codec.issueDevice("alice", first.device.deviceId, T0 + 100 * 86_400_000);
    expect(renewed.device).toEqual(first.device);
    expect(renewed.value).not.toBe(first.value);
    const later = T0 + (100 + 179) * 86_400_000;
    expect(await codec.readDevice([first.value], "alice", later)).toBeUndefined();
    expect(await codec.readDevice(["planted-by-another-port", renewed.value], "alice", later)).toEqual(first.device);
  });

  it("gives every new browser its own device id", async () => {
    const one = await codec.issueDevice("alice", undefined, T0);
    const two = await codec.issueDevice("alice", undefined, T0);
    expect(one.device.deviceId).not.toBe(two.device.deviceId);
  });
});

describe("form tokens", () => {
  it("are refused for another purpose, handle or binding, after expiry, and when missing", async () => {
    const token = await codec.formToken("decision", HANDLE_A, "sid-1", T0);
    expect(await codec.formTokenValid(token, "sign-in", HANDLE_A, ["sid-1"], T0)).toBe(false);
    expect(await codec.formTokenValid(token, "decision", HANDLE_B, ["sid-1"], T0)).toBe(false);
    expect(await codec.formTokenValid(token, "decision", HANDLE_A, ["sid-2"], T0)).toBe(false);
    expect(await codec.formTokenValid(token, "decision", HANDLE_A, [], T0)).toBe(false);
    expect(await codec.formTokenValid(token, "decision", HANDLE_A, ["sid-1"], T0 + 61 * 60_000)).toBe(false);
    expect(await codec.formTokenValid(null, "decision", HANDLE_A, ["sid-1"], T0)).toBe(false);
    expect(await codec.formTokenValid("sid-1", "decision", HANDLE_A, ["sid-1"], T0)).toBe(false);
  });

  it("are never a cookie's value: a session cookie is not a decision token", async () => {
    const { value, session } = await codec.issue("alice", HANDLE_A, T0);
    expect(await codec.formTokenValid(value, "decision", HANDLE_A, [session.sessionId], T0)).toBe(false);
  });

  it("are accepted for their purpose, handle and one of the bindings", async () => {
    const token = await codec.formToken("sign-in", HANDLE_A, "nonce-2", T0);
    expect(await codec.formTokenValid(token, "sign-in", HANDLE_A, ["nonce-1", "nonce-2"], T0 + 60_000)).toBe(true);
  });
});

describe("cookies", () => {
  it("lists every value of a name, and parses the first one otherwise", () => {
    expect(cookieValues("a=1; b=2; a=3;junk; a=", "a")).toEqual(["1", "3", ""]);
    expect(cookieValues(null, "a")).toEqual([]);
    expect(parseCookies("a=1; b=2=3; a=4; junk")).toEqual({ a: "1", b: "2=3" });
  });

  it("keeps only well-formed browser nonces", () => {
    const nonce = newBrowserNonce();
    expect(browserNonces(["short", `${nonce};`, nonce])).toEqual([nonce]);
    expect(newBrowserNonce()).not.toBe(nonce);
  });

  it("serializes HttpOnly cookies with the given path and SameSite", () => {
    expect(serializeCookie("n", "v", { path: "/oidc/approve/x", secure: true, maxAgeSeconds: 60, sameSite: "Strict" })).toBe(
      "n=v; Path=/oidc/approve/x; Max-Age=60; HttpOnly; SameSite=Strict; Secure",
    );
  });
});

describe("origin check", () => {
  const ORIGIN = "http://localhost:3000";
  const post = (headers: Record<string, string>) => new Request(`${ORIGIN}/oidc/approve/x/decision`, { method: "POST", headers });

  it("refuses a POST without Origin, from another port or host, with Origin null, or that the browser calls cross-site", () => {
    expect(crossOriginProblem(post({}), ORIGIN)).toMatch(/no Origin/);
    expect(crossOriginProblem(post({ origin: "http://localhost:3188" }), ORIGIN)).toMatch(/localhost:3188/);
    expect(crossOriginProblem(post({ origin: "http://127.0.0.1:3000" }), ORIGIN)).toMatch(/127\.0\.0\.1/);
    expect(crossOriginProblem(post({ origin: "null" }), ORIGIN)).toMatch(/null/);
    expect(crossOriginProblem(post({ origin: ORIGIN, "sec-fetch-site": "same-site" }), ORIGIN)).toMatch(/same-site/);
    expect(crossOriginProblem(post({ origin: ORIGIN, "sec-fetch-site": "cross-site" }), ORIGIN)).toMatch(/cross-site/);
    expect(crossOriginProblem(post({ origin: ORIGIN, "sec-fetch-site": "none" }), ORIGIN)).toMatch(/none/);
  });

  it("accepts the public origin, with Sec-Fetch-Site same-origin or without it", () => {
    expect(crossOriginProblem(post({ origin: ORIGIN, "sec-fetch-site": "same-origin" }), ORIGIN)).toBeUndefined();
    expect(crossOriginProblem(post({ origin: ORIGIN }), ORIGIN)).toBeUndefined();
  });
});
