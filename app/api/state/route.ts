import { getDashboardState } from "@/lib/demo";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/** The dashboard's initial state; live changes then arrive over /api/events. */
export async function GET(): Promise<Response> {
  try {
    return json(await getDashboardState(await getRuntime()));
  } catch (error) {
    return errorResponse(error);
  }
}
