import "server-only";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import type { SignIn, SignedInInvestor } from "./sign-in";

/**
 * For server-rendered pages of Alice's (the mailbox): her session, or a redirect to sign in that
 * brings her back to `returnTo` afterwards.
 */
export async function investorOrSignIn(signIn: SignIn, returnTo: string): Promise<SignedInInvestor> {
  const header = (await cookies())
    .getAll()
    .map((c) => `${c.name}=${c.value}`)
    .join("; ");
  const session = await signIn.current(header);
  if (!session) redirect(`/auth/sign-in?return_to=${encodeURIComponent(returnTo)}`);
  return session;
}
