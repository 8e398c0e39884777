import "server-only";

/**
 * A sliding-window limit on failed sign-ins, per key (the account, the client address): after
 * `maxFailures` failures within `windowMs` a key must wait until the oldest one leaves the window.
 * In memory, because the embedded server is one process; a restart forgives, which is fine for
 * the development server this is. A success clears the account's failures.
 */
export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures = 5,
    private readonly windowMs = 5 * 60_000,
  ) {}

  /** Seconds to wait before another attempt for any of these keys; 0 when allowed now. */
  retryAfterSeconds(keys: string[], now = Date.now()): number {
    let wait = 0;
    for (const key of keys) {
      const recent = this.recent(key, now);
      if (recent.length >= this.maxFailures) {
        wait = Math.max(wait, Math.ceil((recent[0]! + this.windowMs - now) / 1000));
      }
    }
    return wait;
  }

  recordFailure(keys: string[], now = Date.now()): void {
    for (const key of keys) this.failures.set(key, [...this.recent(key, now), now]);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((at) => now - at < this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }
}
