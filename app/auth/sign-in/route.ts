import { ProtocolError } from "@/lib/errors";
import { getRuntime } from "@/lib/runtime";
import { messagePage } from "../message-page";

export const dynamic = "force-dynamic";

/**
 * GET /auth/sign-in[?return_to=/inbox] — starts Alice's sign-in: a 303 to the identity server's
 * authorization endpoint (code flow, PKCE, prompt=login) with a cookie that remembers this
 * attempt. `return_to` must be a path of this app; anything else returns to the dashboard.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const { location, setCookie } = await rt.signIn.begin(new URL(request.url).searchParams.get("return_to"));
    return new Response(null, { status: 303, headers: { Location: location, "Set-Cookie": setCookie, "Cache-Control": "no-store" } });
  } catch (error) {
    if (error instanceof ProtocolError) return messagePage(error.status, "Sign-in is not available", error.description);
    console.error("[sign-in] could not start:", error instanceof Error ? error.message : error);
    return messagePage(502, "The identity server did not answer", "The sign-in could not start because the identity server could not be reached. Try again in a moment.");
  }
}
