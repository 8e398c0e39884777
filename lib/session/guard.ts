import "server-only";
import { ProtocolError } from "../errors";
import { crossOriginProblem } from "../net/origin-check";
import type { SignIn, SignedInInvestor } from "./sign-in";

/**
 * What stands in front of Alice's data and controls:
 *
 * - reading needs her session (401 `login_required` without one);
 * - writing needs her session and a request from this app's own pages: `Origin` equal to
 *   PUBLIC_URL's origin and, when the browser says it, `Sec-Fetch-Site: same-origin`
 *   (lib/net/origin-check.ts). SameSite cookies do not separate two ports of one host, so a page
 *   on another local port would otherwise ride on her session.
 *
 * The session is checked first, so a request without one learns only that it must sign in.
 */
export async function requireInvestor(request: Request, signIn: SignIn): Promise<SignedInInvestor> {
  const session = await signIn.current(request.headers.get("cookie"));
  if (!session) throw new ProtocolError("login_required", "Sign in first: this is the investor's own data.", { status: 401 });
  return session;
}

export async function requireInvestorWrite(request: Request, signIn: SignIn, publicUrl: string): Promise<SignedInInvestor> {
  const session = await requireInvestor(request, signIn);
  const problem = crossOriginProblem(request, new URL(publicUrl).origin);
  if (problem) {
    console.warn(`[session] refused a write of ${session.sub}: ${problem}`);
    throw new ProtocolError("forbidden_origin", "Requests from another origin are not accepted.", { status: 403 });
  }
  return session;
}
