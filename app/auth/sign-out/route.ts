import { errorResponse, json, readEmptyBody } from "@/lib/http";
import { refuseMisdirected } from "@/lib/net/allowed-hosts";
import { getRuntime } from "@/lib/runtime";
import { requireInvestorWrite } from "@/lib/session/guard";

export const dynamic = "force-dynamic";

/**
 * POST /auth/sign-out — ends Alice's session on the server (its row is deleted, so every copy of
 * the cookie stops working) and clears the cookie. Like every write of hers: her session, from
 * this app's own origin, no body.
 */
export async function POST(request: Request): Promise<Response> {
  const misdirected = refuseMisdirected(request);
  if (misdirected) return misdirected;
  try {
    const rt = await getRuntime();
    await requireInvestorWrite(request, rt.signIn, rt.config.publicUrl);
    await readEmptyBody(request);
    const { setCookie } = await rt.signIn.signOut(request.headers.get("cookie"));
    return json({ signedIn: false }, 200, { "Set-Cookie": setCookie });
  } catch (error) {
    return errorResponse(error);
  }
}
