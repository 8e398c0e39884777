import { readAuditHead } from "@/lib/audit/head";
import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/** GET /api/audit/head — the audit chain's head (seq, hash), its record count and whether it verifies. */
export async function GET(): Promise<Response> {
  try {
    return json(await readAuditHead((await getRuntime()).db));
  } catch (error) {
    return errorResponse(error);
  }
}
