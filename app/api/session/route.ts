import { errorResponse, json } from "@/lib/http";
import { getRuntime } from "@/lib/runtime";

export const dynamic = "force-dynamic";

/**
 * GET /api/session — who is signed in on this browser: `{signedIn, name, expiresAt,
 * signInAvailable}`. Public, and says nothing about anyone but the caller.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const session = await rt.signIn.current(request.headers.get("cookie"));
    return json({
      signedIn: Boolean(session),
      name: session?.name ?? null,
      expiresAt: session?.expiresAt.toISOString() ?? null,
      signInAvailable: rt.signIn.available,
    });
  } catch (error) {
    return errorResponse(error);
  }
}
