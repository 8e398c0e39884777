import { MandateUpdate } from "@/lib/agent/mandate";
import { agentView } from "@/lib/agent";
import { AppError } from "@/lib/errors";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { runningAgent } from "../control";

export const dynamic = "force-dynamic";

const MAX_BODY = 1024;

/**
 * POST /api/agent/mandate {threshold: "140.00", budget: "5000.00"} — Alice's mandate. Amounts are
 * decimal strings (lib/money parseMoney); anything else is a 400 and changes nothing.
 */
export async function POST(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const agent = await runningAgent(request, rt, { emptyBody: false });
    const input = MandateUpdate.safeParse(await readJson(request));
    if (!input.success) throw new AppError("invalid_request", 400, input.error.issues.map((i) => i.message).join("; "));
    await agent.updateMandate({ thresholdCents: input.data.threshold, budgetCents: input.data.budget });
    return json(await agentView(rt));
  } catch (error) {
    return errorResponse(error);
  }
}

async function readJson(request: Request): Promise<unknown> {
  const text = await request.text();
  if (text.length > MAX_BODY) throw new AppError("invalid_request", 413, "The request body is too large.");
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("invalid_request", 400, "The request body must be JSON like {\"threshold\":\"140.00\",\"budget\":\"5000.00\"}.");
  }
}
