import "server-only";
import { agentView } from "../agent";
import { currentAssurance, type Assurance } from "./index";

/**
 * GET /api/agent/assurance: the running app's assurance, with the claims of the agent's last
 * tokens. Apart from index.ts so that the doctor, which has no agent, does not load it.
 */
export async function runningAssurance(rt: Parameters<typeof agentView>[0]): Promise<Assurance> {
  const { tokens } = await agentView(rt);
  return currentAssurance(rt.config, { agentToken: tokens.agent, oboToken: tokens.obo });
}
