/**
 * Seeded randomness for fault schedules: one schedule is a pure function of its seed, so a seed
 * printed by a failing run generates the same operations again (mulberry32: small, fast, and
 * good enough to spread choices; not for anything secret).
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One key of `weights`, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    let r = this.next() * entries.reduce((sum, [, w]) => sum + w, 0);
    for (const [key, weight] of entries) {
      r -= weight;
      if (r < 0) return key;
    }
    return entries.at(-1)![0];
  }
}

/**
 * The agent's clock during a schedule: real time plus an offset that only grows. It jumps when
 * the schedule says time passes, and it skips ahead when the agent is about to wait: the moment
 * the agent stores the instant of its next CIBA poll, its clock is moved to that instant, so the
 * wait it computes next is zero and the poll goes out at once (approval expiry and the server's
 * slow_down then come in a few dozen milliseconds of real time instead of minutes). The identity
 * server and the broker keep real time (they are other processes); the agent's clock only ever
 * runs ahead of theirs.
 */
export class VirtualClock {
  private offset = 0;

  readonly now = (): Date => new Date(Date.now() + this.offset);

  jump(seconds: number): void {
    this.offset += seconds * 1000;
  }

  /** Moves the clock to `instant` if that is ahead; never back. */
  advanceTo(instant: Date): void {
    this.offset += Math.max(0, instant.getTime() - this.now().getTime());
  }

  /** Virtual time equals real time again (a new schedule). */
  reset(): void {
    this.offset = 0;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A promise that never settles: what a killed process's pending calls become. */
export const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
