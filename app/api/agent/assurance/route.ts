import { runningAssurance } from "@/lib/assurance/running";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/** GET /api/agent/assurance — which guarantees bind a trade to Alice's approval here, and why. */
export async function GET(): Promise<Response> {
  try {
    return json(await runningAssurance(await getRuntime()));
  } catch (error) {
    return errorResponse(error);
  }
}
