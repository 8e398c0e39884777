import { ProtocolError } from "@/lib/errors";
import { readEmptyBody } from "@/lib/http";
import { requireInvestorWrite } from "@/lib/session/guard";
import type { Runtime } from "@/lib/runtime";

/** Shared guard of the agent's POST routes: Alice's session, her own origin, and a running agent to act on. */
export async function runningAgent(request: Request, rt: Runtime, options: { emptyBody: boolean }) {
  await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl);
  if (options.emptyBody) await readEmptyBody(request);
  if (!rt.agent) throw new ProtocolError("agent_not_running", "The agent is not running in this process (AGENT_ENABLED=false or it failed to start).", { status: 409 });
  return rt.agent;
}
