import type { History } from "./history";
import type { Network } from "./network";
import { sleep } from "./random";
import type { World } from "./world";

/**
 * Alice, as the schedules drive her: she opens the mail of the newest pending request and
 * decides on the identity server's approval page (real HTTP, her sign-in, the form's token). She
 * waits for a request while the agent is on its way to asking, and not when it will not ask.
 * While she watches her mailbox and decides, the agent's CIBA polls wait for her
 * (Network.whileAliceActs): in the agent's time she answers within its first polling interval.
 */
const LOOK_EVERY_MS = 15;

interface PendingMail {
  handle: string;
  links: { approve: string; deny: string };
  binding_message: string;
}

export async function aliceDecides(
  world: World,
  network: Network,
  history: History,
  decision: "approve" | "deny",
  waitMs: number,
  agentAlive: () => boolean,
): Promise<void> {
  await network.whileAliceActs(watchAndDecide(world, history, decision, waitMs, agentAlive));
}

async function watchAndDecide(world: World, history: History, decision: "approve" | "deny", waitMs: number, agentAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + waitMs;
  let mail: PendingMail | undefined;
  for (;;) {
    [mail] = await world.db.query<PendingMail>(
      `SELECT a.handle, m.links, a.binding_message FROM idp_approvals a JOIN idp_mailbox m ON m.id = a.mail_id
       WHERE a.status = 'pending' AND a.expires_at > now() ORDER BY a.created_at DESC LIMIT 1`,
    );
    if (mail || Date.now() > deadline || !agentAlive() || !(await agentWillAsk(world))) break;
    await sleep(LOOK_EVERY_MS);
  }
  if (!mail) return history.add(`  no pending request to ${decision}`);
  try {
    const page = await world.inflight.track(world.alice.decide(mail.links[decision], decision));
    history.add(`  Alice ${decision}s "${mail.binding_message}": the page says ${/data-status="([a-z_]+)"/.exec(page)?.[1] ?? "?"}`);
  } catch (error) {
    history.add(`  Alice could not ${decision} "${mail.binding_message}": ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  }
}

/** Whether the agent is about to ask: proposing, or low price, armed and no cooldown. */
async function agentWillAsk(world: World): Promise<boolean> {
  const [row] = await world.db.query<{ state: string; armed: boolean; cooldown_until: Date | null }>("SELECT state, armed, cooldown_until FROM agent_state");
  if (!row) return true;
  if (row.state === "PROPOSING" || row.state === "EXECUTING") return true;
  const cooling = row.cooldown_until !== null && new Date(row.cooldown_until).getTime() > world.clock.now().getTime();
  const low = world.market.price < world.config.mandate.thresholdCents;
  return low && row.armed && !cooling && ["MONITORING", "DENIED", "EXPIRED", "FAILED"].includes(row.state);
}
