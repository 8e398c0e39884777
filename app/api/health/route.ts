import { getRuntime } from "@/lib/runtime";
import { json } from "@/lib/http";

export const dynamic = "force-dynamic";

/** Liveness and readiness: answers once the store is open and the market is loaded. */
export async function GET(): Promise<Response> {
  const rt = await getRuntime();
  return json({ status: "ok", startedAt: rt.startedAt, store: rt.db.engine, auth: rt.config.auth.provider });
}
