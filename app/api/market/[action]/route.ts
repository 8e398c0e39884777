import { z } from "zod";
import { runDemoAction } from "@/lib/demo";
import { notFound } from "@/lib/errors";
import { assertSameOrigin, errorResponse, json, readEmptyBody } from "@/lib/http";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { requireInvestorWrite } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

const Action = z.enum(["crash", "stabilize", "reset"]);

/**
 * POST /api/market/crash | stabilize | reset — the demo controls. POST only (Next answers other
 * methods with 405); the body must be empty or `{}`; a foreign Origin is refused. Reset needs
 * an investor's session and resets her ledger only.
 */
export async function POST(request: Request, context: { params: Promise<{ action: string }> }): Promise<Response> {
  // Requests with a body skip proxy.ts: the same Host check, first (lib/net/allowed-hosts.ts).
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const action = Action.safeParse((await context.params).action);
    if (!action.success) throw notFound("Unknown market action.");
    const rt = await getRuntime();
    // The simulator's buttons are public (anyone may crash the simulated market); resetting
    // deletes the signed-in investor's trades and holdings, so it is hers alone (and only hers).
    const session = action.data === "reset" ? await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl) : undefined;
    if (!session) assertSameOrigin(request, rt.config.publicUrl);
    await readEmptyBody(request);
    const market = await runDemoAction(rt, action.data, session && rt.scopeOf(session.investor));
    return json({ ok: true, market });
  } catch (error) {
    return errorResponse(error);
  }
}
