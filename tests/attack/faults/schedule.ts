import { formatMoney } from "@/lib/money";
import { REPLAY_VARIANTS, type ReplayVariant } from "./attacker";
import { Random } from "./random";

/**
 * A fault schedule: a list of operations generated from a seed alone, run one after the other
 * while the agent works on its own (it ticks every 80 ms, and its clock skips ahead to each CIBA
 * poll), so the operations land at arbitrary points of its flow.
 *
 *   fall / rise       the market price goes below / back above Alice's threshold (140.00)
 *   pause             real time passes (the agent proposes, polls, trades meanwhile)
 *   settle            wait until the agent has no request pending and no trade in flight
 *   time              the agent's clock jumps (approval expiry, cooldowns)
 *   approve / deny    Alice decides the newest pending request on the approval page
 *   idp_down          the identity server is unreachable for the agent for a few milliseconds
 *   kill              kill -9 after the agent's next n store statements (at once when it is
 *                     idle), then a restart (sometimes killed again during its recovery); or
 *                     kill -9 the moment the answer to its next on-behalf-of trade call, or to
 *                     the CIBA poll that brings the token, reaches it (the broker traded, the
 *                     server issued the token; the process never learns), restarted after that
 *                     operation
 *   replay            at the agent's next on-behalf-of trade call, a concurrent call with that
 *                     token: the same call again, another order id, more shares, the other
 *                     side, or an earlier token
 *   replay_now        the last seen on-behalf-of call, changed the same ways, sent now
 *   duplicate_polls   the agent's next n CIBA polls reach the server twice
 */
export type Op =
  | { op: "fall"; priceCents: number }
  | { op: "rise"; priceCents: number }
  | { op: "pause"; ms: number }
  | { op: "settle"; ms: number }
  | { op: "time"; seconds: number }
  | { op: "approve" | "deny"; waitMs: number }
  | { op: "idp_down"; ms: number }
  | { op: "kill"; at: number | "trade_answer" | "token_answer"; downMs: number; againAfter?: number }
  | { op: "replay"; variant: ReplayVariant }
  | { op: "replay_now"; variant: ReplayVariant }
  | { op: "duplicate_polls"; count: number };

const WEIGHTS = {
  fall: 8,
  rise: 5,
  pause: 14,
  settle: 5,
  time: 5,
  approve: 16,
  deny: 5,
  idp_down: 4,
  kill: 9,
  replay: 9,
  replay_now: 3,
  duplicate_polls: 5,
} as const;

/** How long Alice waits for a request to reach her mailbox (while the agent is on its way to asking). */
const ALICE_WAIT_MS = 2000;
/** The longest a settle waits. */
const SETTLE_MS = 3000;

export function generateSchedule(seed: number): Op[] {
  const r = new Random(seed);
  const ops: Op[] = [];
  if (r.chance(0.9)) ops.push(fall(r));
  const length = r.int(4, 10);
  while (ops.length < length) {
    const kind = r.weighted(WEIGHTS);
    switch (kind) {
      case "fall":
        ops.push(fall(r));
        break;
      case "rise":
        ops.push({ op: "rise", priceCents: r.int(14_000, 15_500) });
        break;
      case "pause":
        ops.push({ op: "pause", ms: r.int(5, 60) });
        break;
      case "settle":
        ops.push({ op: "settle", ms: SETTLE_MS });
        break;
      case "time":
        // Short jumps end cooldowns; long ones let pending requests expire.
        ops.push({ op: "time", seconds: r.chance(0.25) ? r.int(100, 700) : r.int(3, 40) });
        break;
      case "approve":
      case "deny":
        ops.push({ op: kind, waitMs: ALICE_WAIT_MS });
        break;
      case "idp_down":
        ops.push({ op: "idp_down", ms: r.int(5, 60) });
        break;
      case "kill":
        ops.push({
          op: "kill",
          at: r.chance(0.45) ? r.int(0, 30) : r.chance(0.65) ? "trade_answer" : "token_answer",
          downMs: r.int(0, 30),
          ...(r.chance(0.2) ? { againAfter: r.int(0, 12) } : {}),
        });
        // Often the flow goes on through the kill, time passes, and Alice approves whatever the
        // restarted agent asks next: a second trade in one fall would show.
        if (r.chance(0.6)) {
          ops.push(
            { op: "approve", waitMs: ALICE_WAIT_MS },
            { op: "settle", ms: SETTLE_MS },
            { op: "time", seconds: r.int(6, 30) },
            { op: "pause", ms: r.int(10, 40) },
            { op: "approve", waitMs: ALICE_WAIT_MS },
            { op: "settle", ms: SETTLE_MS },
          );
        }
        break;
      case "replay":
      case "replay_now":
        ops.push({ op: kind, variant: r.pick(REPLAY_VARIANTS) });
        break;
      case "duplicate_polls":
        ops.push({ op: "duplicate_polls", count: r.int(1, 3) });
        break;
    }
  }
  return ops;
}

function fall(r: Random): Op {
  return { op: "fall", priceCents: r.int(12_000, 13_999) };
}

export function describe(op: Op): string {
  switch (op.op) {
    case "fall":
    case "rise":
      return `${op.op}: the price goes to ${formatMoney(op.priceCents)}`;
    case "pause":
      return `pause ${op.ms} ms`;
    case "settle":
      return "settle: wait until no request is pending and no trade in flight";
    case "time":
      return `time: the agent's clock jumps ${op.seconds} s`;
    case "approve":
    case "deny":
      return `Alice will ${op.op} the newest pending request`;
    case "idp_down":
      return `identity server down for ${op.ms} ms`;
    case "kill": {
      const again = op.againAfter !== undefined ? `, killed again after ${op.againAfter} statements of its recovery` : "";
      if (op.at === "trade_answer") return `kill -9 armed: when the answer to the next on-behalf-of trade call arrives${again}`;
      if (op.at === "token_answer") return `kill -9 armed: when the CIBA poll that brings the token returns${again}`;
      return `kill -9 after ${op.at} more store statements, restart after ${op.downMs} ms${again}`;
    }
    case "replay":
      return `replay armed: ${op.variant}, concurrently with the next on-behalf-of trade call`;
    case "replay_now":
      return `replay ${op.variant} of the last on-behalf-of trade call`;
    case "duplicate_polls":
      return `the next ${op.count} CIBA poll(s) are duplicated`;
  }
}
