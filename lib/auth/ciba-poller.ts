import "server-only";
import type { CibaPollOutcome } from "./profiles/types";

/**
 * Poll mode of OpenID CIBA Core 1.0 as a resumable loop. The caller persists every change of
 * `CibaPollState` (onProgress), so after a restart the same request is polled again from the
 * stored state, at the stored pace.
 *
 * - §7.3: wait `interval` seconds between polls, 5 s when the server sent none; the first poll
 *   also waits one interval after the acknowledgement.
 * - §11 slow_down: add 5 s to the interval for this and every later poll. A server may name the
 *   wait itself: Auth0 sends Retry-After and, in some of its documented answers, an `interval` in
 *   the body; a longer body interval becomes the interval for every later poll, a longer
 *   Retry-After lengthens this one wait. Nothing a server says makes the client poll faster.
 * - authorization_pending: poll again after the interval.
 * - access_denied, expired_token, invalid_grant (and any other error): stop; the auth_req_id is
 *   finished.
 * - server unreachable (network, timeout, 5xx): keep the request, back off exponentially up to
 *   MAX_BACKOFF_SECONDS, and give up only when the request has expired.
 */
export const DEFAULT_INTERVAL_SECONDS = 5;
export const SLOW_DOWN_STEP_SECONDS = 5;
export const MAX_BACKOFF_SECONDS = 60;
/** A request is given up locally this long after its expiry (clocks and timers are not exact). */
export const EXPIRY_GRACE_MS = 2_000;

export interface CibaPollState {
  authReqId: string;
  intervalSeconds: number;
  expiresAt: Date;
  nextPollAt: Date;
  /** Unreachable polls in a row. */
  failures: number;
}

export type CibaFinal = Extract<CibaPollOutcome, { kind: "approved" | "denied" | "expired" | "invalid" }>;

/** The interval to use from the acknowledgement's `interval` (§7.3: absent means 5 s). */
export function initialInterval(interval: number | undefined): number {
  return typeof interval === "number" && Number.isFinite(interval) && interval > 0 ? Math.ceil(interval) : DEFAULT_INTERVAL_SECONDS;
}

/** The state to poll from after the acknowledgement. */
export function startPollState(ack: { authReqId: string; expiresIn: number; interval?: number }, now: Date): CibaPollState {
  const intervalSeconds = initialInterval(ack.interval);
  return {
    authReqId: ack.authReqId,
    intervalSeconds,
    expiresAt: new Date(now.getTime() + ack.expiresIn * 1000),
    nextPollAt: new Date(now.getTime() + intervalSeconds * 1000),
    failures: 0,
  };
}

/** The next state after a non-final outcome: the pacing rules in one place. */
export function schedule(state: CibaPollState, outcome: Extract<CibaPollOutcome, { kind: "pending" | "slow_down" | "unreachable" }>, now: Date): CibaPollState {
  switch (outcome.kind) {
    case "pending":
      return { ...state, failures: 0, nextPollAt: after(now, state.intervalSeconds) };
    case "slow_down": {
      const intervalSeconds = Math.max(state.intervalSeconds + SLOW_DOWN_STEP_SECONDS, outcome.intervalSeconds ?? 0);
      const wait = Math.max(intervalSeconds, outcome.retryAfterSeconds ?? 0);
      return { ...state, intervalSeconds, failures: 0, nextPollAt: after(now, wait) };
    }
    case "unreachable": {
      const failures = state.failures + 1;
      const wait = Math.min(MAX_BACKOFF_SECONDS, state.intervalSeconds * 2 ** (failures - 1));
      return { ...state, failures, nextPollAt: after(now, Math.max(wait, state.intervalSeconds)) };
    }
  }
}

export interface PollOptions {
  poll(authReqId: string): Promise<CibaPollOutcome>;
  /** Persist the new state before the next wait; called after every non-final outcome. */
  onProgress?(state: CibaPollState, outcome: CibaPollOutcome): Promise<void> | void;
  signal?: AbortSignal;
  now?: () => Date;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Polls until the request is decided, expired or finished. Rejects only when aborted. */
export async function pollUntilDecided(initial: CibaPollState, options: PollOptions): Promise<CibaFinal> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? abortableSleep;
  let state = initial;
  for (;;) {
    await sleep(Math.max(0, state.nextPollAt.getTime() - now().getTime()), options.signal);
    options.signal?.throwIfAborted();
    if (now().getTime() > state.expiresAt.getTime() + EXPIRY_GRACE_MS) {
      return { kind: "expired", error: "expired_token", description: "the request expired before it was decided" };
    }
    const outcome = await options.poll(state.authReqId);
    options.signal?.throwIfAborted();
    if (outcome.kind === "approved" || outcome.kind === "denied" || outcome.kind === "expired" || outcome.kind === "invalid") return outcome;
    state = schedule(state, outcome, now());
    await options.onProgress?.(state, outcome);
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const after = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);
