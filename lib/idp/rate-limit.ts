import "server-only";

/**
 * Slows password guessing on the approval page without letting anyone lock the user out.
 *
 * Each failed sign-in counts against some keys; after a few free failures (typos) every further
 * failure doubles the wait before that key's next attempt, from 1 s up to a short cap. An attempt
 * made while any of its keys must wait is answered 429 with Retry-After and is not checked, so it
 * neither counts nor reveals anything. A success clears the first of its keys (signInKeys); a key
 * forgets its failures after a quiet quarter of an hour.
 *
 * Which keys an attempt counts against (signInKeys):
 * - From a known device — a browser carrying a valid device cookie (decision-page/session.ts) for
 *   the account the request is for — only that device's key: its own failures, nobody else's. An
 *   attacker who knows a request's link and fails at every wait's end keeps the account key
 *   waiting, but the user's browser, which signed in before, is not behind that key and goes in at
 *   once. The attacker cannot mint a device cookie without the password; one he steals gives him
 *   that device's own rate, one more guess per cap, and a device that keeps failing delays only
 *   itself.
 * - From any other browser, the two keys below, as for anyone.
 *   - per account (the account whose request the page shows, whatever name was typed): the one key
 *     an attacker cannot dodge, so it is what bounds brute force — one guess per cap, about
 *     10,800 a day at 8 s, nothing against the generated 80-bit password (a chosen
 *     INVESTOR_PASSWORD should be long). The attacker shares this key with the user's new
 *     browsers, so its cap is also the longest they wait once he stops; a long cap here would be a
 *     lock-out.
 *   - per source (the nearest X-Forwarded-For address): slows one client spraying names, at the
 *     same short cap. It cannot be longer: that address is the client's word (Next.js keeps an
 *     X-Forwarded-For it receives) and on the loopback dev server every browser, the user's too,
 *     is 127.0.0.1, so a long per-source wait would lock out whoever the attacker names or shares
 *     an address with. Known devices skip it for the same reason.
 *   - per account + source: not used. It would only add something with a longer cap than the
 *     account key, and a longer cap on a forgeable source is that same lock-out.
 * A success from a known device clears only the device's key, so the user signing in does not
 * hand an attacker at the account key a fresh set of free guesses; a success elsewhere clears
 * the account key.
 *
 * In memory, because the embedded server is one process; a restart forgives, which is fine for
 * the development server this is. The table is bounded (oldest entries go first).
 */

/**
 * The keys one sign-in attempt counts against, the one a correct password clears first: the
 * device's alone when the browser is a known device of this account, else the account's and the
 * source's.
 */
export function signInKeys(attempt: { accountId: string; deviceId?: string; source: string }): string[] {
  if (attempt.deviceId) return [`device:${attempt.deviceId}`];
  return [`account:${attempt.accountId}`, `source:${attempt.source}`];
}

export interface SignInLimiterOptions {
  /** Failures per key without any wait. */
  freeFailures?: number;
  /** The first wait after the free failures; each further failure doubles it. */
  baseDelayMs?: number;
  /** The longest wait. */
  maxDelayMs?: number;
  /** A key with no failure for this long starts again from zero. */
  forgetAfterMs?: number;
  /** Most keys kept. */
  maxKeys?: number;
  now?: () => number;
}

interface KeyState {
  failures: number;
  lastFailureAt: number;
}

export class SignInLimiter {
  private readonly keys = new Map<string, KeyState>();
  private readonly freeFailures: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: SignInLimiterOptions = {}) {
    this.freeFailures = options.freeFailures ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 8000;
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** The wait after `failures` failures: none for the free ones, then doubling up to the cap. */
  delayAfter(failures: number): number {
    if (failures < this.freeFailures) return 0;
    const doublings = Math.min(failures - this.freeFailures, 30);
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** doublings);
  }

  /** Seconds to wait before another attempt for any of these keys; 0 when allowed now. */
  retryAfterSeconds(keys: string[]): number {
    const now = this.now();
    let waitMs = 0;
    for (const key of keys) {
      const state = this.current(key, now);
      if (state) waitMs = Math.max(waitMs, state.lastFailureAt + this.delayAfter(state.failures) - now);
    }
    return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
  }

  recordFailure(keys: string[]): void {
    const now = this.now();
    for (const key of keys) {
      const failures = (this.current(key, now)?.failures ?? 0) + 1;
      // Re-inserted, so the Map's order is least recently failed first.
      this.keys.delete(key);
      this.keys.set(key, { failures, lastFailureAt: now });
    }
    while (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
  }

  reset(key: string): void {
    this.keys.delete(key);
  }

  private current(key: string, now: number): KeyState | undefined {
    const state = this.keys.get(key);
    if (state && now - state.lastFailureAt >= this.forgetAfterMs) {
      this.keys.delete(key);
      return undefined;
    }
    return state;
  }
}
