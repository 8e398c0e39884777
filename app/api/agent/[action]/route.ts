import { z } from "zod";
import { agentView } from "@/lib/agent";
import { notFound } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { runningAgent } from "../control";

export const dynamic = "force-dynamic";

const Action = z.enum(["pause", "resume"]);

/**
 * POST /api/agent/pause — no price checks, proposals or approval polling until resumed.
 * POST /api/agent/resume — the agent watches again; a stored approval request is polled again.
 * POST only (Next answers other methods with 405); the body must be empty or `{}`; a foreign
 * Origin is refused. /api/agent/mandate is its own route.
 */
export async function POST(request: Request, context: { params: Promise<{ action: string }> }): Promise<Response> {
  // Requests with a body skip proxy.ts: the same Host check, first (lib/net/allowed-hosts.ts).
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const action = Action.safeParse((await context.params).action);
    if (!action.success) throw notFound("Unknown agent action.");
    const rt = await getRuntime();
    const agent = await runningAgent(request, rt, { emptyBody: true });
    await (action.data === "pause" ? agent.pause() : agent.resume());
    return json(await agentView(rt));
  } catch (error) {
    return errorResponse(error);
  }
}
