import { readAuditHead } from "@/lib/audit/head";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";
import { requireInvestor } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/** GET /api/audit/head — the audit chain's head (seq, hash), its record count and whether it verifies; her session. */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    await requireInvestor(request, rt.signIn);
    return json(await readAuditHead(rt.db));
  } catch (error) {
    return errorResponse(error);
  }
}
