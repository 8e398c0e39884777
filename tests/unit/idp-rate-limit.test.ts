import { describe, expect, it } from "vitest";
import { SignInLimiter } from "@/lib/idp/rate-limit";

/**
 * The approval page's sign-in limiter on an injected clock: a growing, short wait instead of a
 * lock, so brute force is slow and the user is never kept out for long.
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
