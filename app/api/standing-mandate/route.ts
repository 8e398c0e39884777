import { GrantInput, grantStandingMandate, RevokeInput, revokeStandingMandate, standingMandateView } from "@/lib/delegation";
import { invalidRequest, ProtocolError } from "@/lib/errors";
import { errorResponse, json, readJsonBody } from "@/lib/http";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor, requireInvestorWrite } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/**
 * The signed-in investor's standing mandate (lib/delegation):
 *   GET    /api/standing-mandate  the mandate and what it has spent today (her session)
 *   POST   /api/standing-mandate  {symbol, max_per_trade, max_per_day, expires_at}: asks the
 *          authorization server to grant it; she approves it there (202, status "requested")
 *   DELETE /api/standing-mandate  {mandate_id}: revokes it
 * Writes need her session and her origin first; then the body (413 past its size, 400 when not
 * the schema's shape). A refusal changes nothing.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const session = await requireInvestor(request, rt.signIn);
    return json(await standingMandateView(rt.scopeOf(session.investor), session.sub));
  } catch (error) {
    return errorResponse(error);
  }
}

export async function POST(request: Request): Promise<Response> {
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const rt = await getRuntime();
    const session = await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl);
    const input = GrantInput.safeParse(await readJsonBody(request, { notJson: 'The body must be JSON like {"symbol":"NVDA","max_per_trade":"500.00","max_per_day":"2000.00","expires_at":"2030-01-01T00:00:00Z"}.' }));
    if (!input.success) throw invalidRequest(input.error.issues.map((i) => i.message).join("; "));
    return json({ mandate: await grantStandingMandate(rt.scopeOf(session.investor), session.sub, input.data) }, 202);
  } catch (error) {
    return errorResponse(error);
  }
}

export async function DELETE(request: Request): Promise<Response> {
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const rt = await getRuntime();
    const session = await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl);
    const input = RevokeInput.safeParse(await readJsonBody(request, { notJson: 'The body must be JSON like {"mandate_id":"mdt_…"}.' }));
    if (!input.success) throw invalidRequest(input.error.issues.map((i) => i.message).join("; "));
    if (!(await revokeStandingMandate(rt.scopeOf(session.investor), session.sub, input.data.mandate_id))) {
      throw new ProtocolError("not_found", "No standing mandate of yours with that id is in force.", { status: 404 });
    }
    return json(await standingMandateView(rt.scopeOf(session.investor), session.sub));
  } catch (error) {
    return errorResponse(error);
  }
}
