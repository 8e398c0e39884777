import { describe, expect, it } from "vitest";
import { SignInLimiter, signInKeys } from "@/lib/idp/rate-limit";

/**
 * The approval page's sign-in limiter on an injected clock: a growing, short wait instead of a
 * lock, so brute force is slow and the user is never kept out for long; a known device waits for
 * its own failures only.
 */
function limiterAt(start = 1_000_000) {
  const clock = { now: start };
  const limiter = new SignInLimiter({ now: () => clock.now });
  return { limiter, clock };
}

const ACCOUNT = "account:alice";

describe("SignInLimiter", () => {
  it("waits after three failures, doubling from 1 s, and never more than 8 s", () => {
    const { limiter } = limiterAt();
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map((n) => limiter.delayAfter(n))).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  });

  it("refuses an attempt during the wait, and allows it once the wait is over", () => {
    const { limiter, clock } = limiterAt();
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(0);
      limiter.recordFailure([ACCOUNT]);
    }
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(1);
    clock.now += 999;
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(1);
    clock.now += 1;
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(0);
  });

  it("takes the longest wait of the keys, and keeps keys apart", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 5; i++) limiter.recordFailure(["source:10.0.0.1"]);
    expect(limiter.retryAfterSeconds([ACCOUNT, "source:10.0.0.1"])).toBe(4);
    expect(limiter.retryAfterSeconds([ACCOUNT, "source:10.0.0.2"])).toBe(0);
  });

  it("lets the user in at most 8 s after an attacker who failed 20 times from 20 addresses stops", () => {
    const { limiter, clock } = limiterAt();
    // The attacker honours every wait, so each of his 20 guesses is checked and counted.
    for (let i = 0; i < 20; i++) {
      clock.now += limiter.retryAfterSeconds([ACCOUNT, `source:203.0.113.${i}`]) * 1000;
      limiter.recordFailure([ACCOUNT, `source:203.0.113.${i}`]);
    }
    const wait = limiter.retryAfterSeconds([ACCOUNT, "source:127.0.0.1"]);
    expect(wait).toBe(8);
    clock.now += wait * 1000;
    expect(limiter.retryAfterSeconds([ACCOUNT, "source:127.0.0.1"])).toBe(0);
  });

  it("keeps brute force to one checked guess per 8 s once the wait is at its cap", () => {
    const { limiter, clock } = limiterAt();
    const start = clock.now;
    let checked = 0;
    // An attacker trying every 100 ms for ten minutes, from a new address each time.
    for (let i = 0; i < 6000; i++, clock.now += 100) {
      if (limiter.retryAfterSeconds([ACCOUNT, `source:198.51.100.${i % 250}`]) === 0) {
        checked++;
        limiter.recordFailure([ACCOUNT, `source:198.51.100.${i % 250}`]);
      }
    }
    expect(clock.now - start).toBe(600_000);
    // 3 free, then 1 s, 2 s, 4 s, then one per 8 s: about 80 in ten minutes, instead of 6000.
    expect(checked).toBeGreaterThanOrEqual(76);
    expect(checked).toBeLessThanOrEqual(82);
  });

  it("forgets a key after a quiet quarter of an hour, and on reset", () => {
    const { limiter, clock } = limiterAt();
    for (let i = 0; i < 10; i++) limiter.recordFailure([ACCOUNT]);
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(8);
    clock.now += 15 * 60_000;
    limiter.recordFailure([ACCOUNT]);
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(0);
    for (let i = 0; i < 10; i++) limiter.recordFailure([ACCOUNT]);
    limiter.reset(ACCOUNT);
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(0);
  });

  it("holds a bounded number of keys, dropping the least recently failed first", () => {
    const clock = { now: 0 };
    const limiter = new SignInLimiter({ now: () => clock.now, maxKeys: 3 });
    for (let i = 0; i < 4; i++) limiter.recordFailure([ACCOUNT, `source:${i}`]);
    // The account key failed most recently of all, so it stays (4 failures: 2 s); source:0 and source:1 went.
    expect(limiter.retryAfterSeconds([ACCOUNT])).toBe(2);
    for (let i = 0; i < 3; i++) limiter.recordFailure(["source:0"]);
    expect(limiter.retryAfterSeconds(["source:0"])).toBe(1);
  });
});

describe("signInKeys", () => {
  it("puts an attempt without a known device behind the account and its source", () => {
    expect(signInKeys({ accountId: "alice", source: "127.0.0.1" })).toEqual(["account:alice", "source:127.0.0.1"]);
    expect(signInKeys({ accountId: "alice", deviceId: "", source: "127.0.0.1" })).toEqual(["account:alice", "source:127.0.0.1"]);
  });

  it("puts a known device's attempt behind its own key alone", () => {
    expect(signInKeys({ accountId: "alice", deviceId: "dev-1", source: "127.0.0.1" })).toEqual(["device:dev-1"]);
  });
});

describe("SignInLimiter with known devices", () => {
  const fresh = (source = "127.0.0.1") => signInKeys({ accountId: "alice", source });
  const known = (deviceId: string) => signInKeys({ accountId: "alice", deviceId, source: "127.0.0.1" });

  it("never delays a known device while an attacker fails at the end of every wait, from the user's address", () => {
    const { limiter, clock } = limiterAt();
    const start = clock.now;
    let attackerChecked = 0;
    let aliceIn = 0;
    let freshRefused = 0;
    // Ten minutes; the attacker tries every 10 ms, so he fails the moment each wait ends.
    for (let tick = 0; tick < 60_000; tick++, clock.now += 10) {
      if (limiter.retryAfterSeconds(fresh()) === 0) {
        attackerChecked++;
        limiter.recordFailure(fresh());
        // Right after each of his failures past the free ones, a new browser must wait ...
        if (attackerChecked > 3) {
          expect(limiter.retryAfterSeconds(fresh())).toBeGreaterThan(0);
          freshRefused++;
        }
      }
      // ... while Alice's known browser, every 7 s, is checked at once and signs in.
      if (tick % 700 === 350) {
        expect(limiter.retryAfterSeconds(known("alice-laptop"))).toBe(0);
        limiter.reset(known("alice-laptop")[0]!);
        aliceIn++;
      }
    }
    expect(clock.now - start).toBe(600_000);
    expect(aliceIn).toBe(86);
    expect(freshRefused).toBe(attackerChecked - 3);
    // Her sign-ins cleared only her device's key: the attacker still gets one guess per 8 s.
    expect(attackerChecked).toBeGreaterThanOrEqual(76);
    expect(attackerChecked).toBeLessThanOrEqual(82);
  });

  it("lets a device that keeps failing delay only itself", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 10; i++) limiter.recordFailure(known("stolen"));
    expect(limiter.retryAfterSeconds(known("stolen"))).toBe(8);
    expect(limiter.retryAfterSeconds(known("alice-laptop"))).toBe(0);
    expect(limiter.retryAfterSeconds(fresh())).toBe(0);
  });

  it("clears only the device's own failures when it signs in", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 5; i++) limiter.recordFailure(fresh());
    for (let i = 0; i < 5; i++) limiter.recordFailure(known("alice-laptop"));
    limiter.reset(known("alice-laptop")[0]!);
    expect(limiter.retryAfterSeconds(known("alice-laptop"))).toBe(0);
    expect(limiter.retryAfterSeconds(fresh("198.51.100.1"))).toBe(4);
  });
});
