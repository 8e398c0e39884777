import { getDashboardState } from "@/lib/demo";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/**
 * The dashboard's initial state; live changes then arrive over /api/events. Anyone sees the
 * market; an investor's portfolio, trades, activity and mandate need her session, and are hers.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const session = await rt.signIn.current(request.headers.get("cookie"));
    return json(await getDashboardState(rt, session ? rt.scopeOf(session.investor) : undefined));
  } catch (error) {
    return errorResponse(error);
  }
}
