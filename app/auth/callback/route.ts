import { ProtocolError } from "@/lib/errors";
import { getRuntime } from "@/lib/runtime";
import { messagePage } from "../message-page";

export const dynamic = "force-dynamic";

/**
 * GET /auth/callback?code=…&state=…&iss=… — where the identity server sends Alice back. On
 * success: a session cookie and a 303 to where she was going. Otherwise a page that says why and
 * offers to start again; nothing is signed in.
 */
export async function GET(request: Request): Promise<Response> {
  try {
    const rt = await getRuntime();
    const search = new URL(request.url).search;
    if (search.length > 4096) throw new ProtocolError("invalid_request", "The sign-in answer was too long.", { status: 400 });
    const { location, setCookies } = await rt.signIn.complete(search, request.headers.get("cookie"));
    const headers = new Headers({ Location: location, "Cache-Control": "no-store" });
    for (const cookie of setCookies) headers.append("Set-Cookie", cookie);
    return new Response(null, { status: 303, headers });
  } catch (error) {
    if (error instanceof ProtocolError) return messagePage(error.status, "You are not signed in", error.description);
    console.error("[sign-in] callback failed:", error instanceof Error ? error.message : error);
    return messagePage(502, "You are not signed in", "The identity server could not be reached to finish the sign-in. Try again in a moment.");
  }
}
