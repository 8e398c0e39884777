import { ProtocolError } from "@/lib/errors";
import { assertSameOrigin, readEmptyBody } from "@/lib/http";
import type { Runtime } from "@/lib/runtime";

/** Shared guard of the agent's POST routes: same origin, and a running agent to act on. */
export async function runningAgent(request: Request, rt: Runtime, options: { emptyBody: boolean }) {
  assertSameOrigin(request, rt.config.publicUrl);
  if (options.emptyBody) await readEmptyBody(request);
  if (!rt.agent) throw new ProtocolError("agent_not_running", "The agent is not running in this process (AGENT_ENABLED=false or it failed to start).", { status: 409 });
  return rt.agent;
}
