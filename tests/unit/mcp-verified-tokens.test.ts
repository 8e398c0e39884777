import { describe, expect, it } from "vitest";
import { invalidToken } from "../../lib/errors";
import type { Principal } from "../../lib/protected-resource/principal";
import { cacheVerifiedTokens } from "../../mcp/verified-tokens";

/**
 * The cache of accepted tokens in front of JWKS verification: refusals are never remembered, an
 * acceptance lasts until the token's exp (+ the 30 s tolerance verification allows) and at most
 * a minute, the number of entries is bounded, and the principal cannot be altered by a request.
 */
const T0 = 1_800_000_000_000;

function world() {
  let now = T0;
  const calls: string[] = [];
  const refused = new Set<string>();
  const expiresAt = new Map<string, number>();
  const verify = async (token: string): Promise<Principal> => {
    calls.push(token);
    if (refused.has(token)) throw invalidToken("The token is invalid.");
    return {
      sub: token,
      subjectKind: "agent",
      actor: null,
      actorChain: null,
      clientId: "c",
      jti: null,
      scopes: ["stock:read"],
      authorizationDetails: undefined,
      expiresAt: expiresAt.get(token) ?? T0 / 1000 + 3600,
      issuedAt: T0 / 1000,
      confirmation: null,
    };
  };
  const cached = cacheVerifiedTokens(verify, { now: () => now, maxEntries: 2 });
  return { cached, calls, refused, expiresAt, advance: (ms: number) => (now += ms) };
}

describe("cacheVerifiedTokens", () => {
  it("never remembers a refusal", async () => {
    const w = world();
    w.refused.add("bad");
    await expect(w.cached("bad")).rejects.toMatchObject({ code: "invalid_token" });
    await expect(w.cached("bad")).rejects.toMatchObject({ code: "invalid_token" });
    expect(w.calls).toEqual(["bad", "bad"]);
  });

  it("verifies a token once while it is remembered, each token on its own", async () => {
    const w = world();
    const first = await w.cached("a");
    expect(await w.cached("a")).toBe(first);
    await w.cached("b");
    expect(w.calls).toEqual(["a", "b"]);
  });

  it("verifies again after a minute: a key withdrawn from the JWKS then refuses the token", async () => {
    const w = world();
    await w.cached("a");
    w.advance(59_000);
    await w.cached("a");
    expect(w.calls).toEqual(["a"]);
    w.advance(1_000);
    w.refused.add("a");
    await expect(w.cached("a")).rejects.toMatchObject({ code: "invalid_token" });
    expect(w.calls).toEqual(["a", "a"]);
  });

  it("verifies again once the token is past exp + 30 s, so expiry refuses it as verification would", async () => {
    const w = world();
    w.expiresAt.set("short", T0 / 1000 + 10);
    await w.cached("short");
    w.advance(39_000);
    await w.cached("short");
    expect(w.calls).toEqual(["short"]);
    w.advance(1_000);
    w.refused.add("short");
    await expect(w.cached("short")).rejects.toMatchObject({ code: "invalid_token" });
    expect(w.calls).toEqual(["short", "short"]);
  });

  it("holds at most maxEntries tokens: the oldest makes room", async () => {
    const w = world();
    await w.cached("a");
    await w.cached("b");
    await w.cached("c");
    await w.cached("b");
    await w.cached("a");
    expect(w.calls).toEqual(["a", "b", "c", "a"]);
  });

  it("hands out a frozen principal", async () => {
    const w = world();
    const p = await w.cached("a");
    expect(() => {
      (p as { sub: string }).sub = "mallory";
    }).toThrow(TypeError);
    expect((await w.cached("a")).sub).toBe("a");
  });
});
