import { describe, expect, it } from "vitest";
import { AgentTokenSource } from "@/lib/auth/agent-token";
import type { TokenResult } from "@/lib/auth/profiles/types";
import { FakeProfile } from "../helpers/agent-fakes";

/** The agent token: fetched once, shared by concurrent callers, renewed before it expires. */
describe("agent token source", () => {
  function source(lifetimeMs: number) {
    const profile = new FakeProfile();
    let now = 1_000_000;
    profile.getAgentToken = async () => {
      profile.tokenCalls += 1;
      return { accessToken: `token-${profile.tokenCalls}`, expiresAt: new Date(now + lifetimeMs), scopes: ["openid", "stock:read"], claims: { opaque: false, sub: "aurelius" } } satisfies TokenResult;
    };
    const events: boolean[] = [];
    const tokens = new AgentTokenSource(profile, { onToken: (_t, renewed) => void events.push(renewed) }, () => now);
    return { profile, tokens, events, advance: (ms: number) => void (now += ms) };
  }

  it("shares one request between concurrent callers and reuses the token", async () => {
    const s = source(600_000);
    const [a, b] = await Promise.all([s.tokens.current(), s.tokens.current()]);
    expect(a.accessToken).toBe("token-1");
    expect(b.accessToken).toBe("token-1");
    s.advance(500_000);
    expect((await s.tokens.current()).accessToken).toBe("token-1");
    expect(s.profile.tokenCalls).toBe(1);
    expect(s.events).toEqual([false]);
  });

  it("renews a minute before expiry, and reports it as a renewal", async () => {
    const s = source(600_000);
    await s.tokens.current();
    s.advance(540_001);
    expect((await s.tokens.current()).accessToken).toBe("token-2");
    expect(s.events).toEqual([false, true]);
  });

  it("renews short-lived tokens at four fifths of their lifetime", async () => {
    const s = source(100_000);
    await s.tokens.current();
    s.advance(79_000);
    expect((await s.tokens.current()).accessToken).toBe("token-1");
    s.advance(1_001);
    expect((await s.tokens.current()).accessToken).toBe("token-2");
  });

  it("forces a renewal when the resource server rejected the token", async () => {
    const s = source(600_000);
    await s.tokens.current();
    expect((await s.tokens.renew()).accessToken).toBe("token-2");
  });
});
