import "server-only";
import type { Account, FindAccount } from "oidc-provider";
import type { AppConfig } from "../config";
import { constantTimeEqual } from "./constant-time";

/**
 * The one end-user of the embedded server: the investor (Alice), seeded from configuration. A
 * real server would look her up in a directory; the shape of the answers is the same.
 */
export interface Investor {
  accountId: string;
  email: string;
  name: string;
}

export function investorOf(config: AppConfig): Investor {
  return { accountId: config.investor.userId, email: config.investor.email, name: config.investor.name };
}

/**
 * Resolves a CIBA `login_hint` (OpenID CIBA Core §7.1) to an account id: the investor's email
 * (case-insensitive, as mail addresses are) or her user id (exact). Anything else is unknown.
 */
export function resolveLoginHint(investor: Investor, hint: string): string | undefined {
  const value = hint.trim();
  if (value === investor.accountId) return investor.accountId;
  if (value.toLowerCase() === investor.email.toLowerCase()) return investor.accountId;
  return undefined;
}

/** oidc-provider's findAccount: the claims released for the investor (ID token, userinfo). */
export function createFindAccount(investor: Investor): FindAccount {
  return (_ctx, sub): Account | undefined => {
    if (sub !== investor.accountId) return undefined;
    return {
      accountId: investor.accountId,
      claims: () => ({ sub: investor.accountId, email: investor.email, email_verified: true, name: investor.name }),
    };
  };
}

/**
 * Checks a sign-in on the approval page. The password comparison is constant-time and always
 * runs, also for an unknown user, so the answer time does not tell which part was wrong.
 */
export function verifyInvestorCredentials(investor: Investor, password: string, username: string, given: string): string | undefined {
  const accountId = resolveLoginHint(investor, username);
  const passwordOk = constantTimeEqual(given, password);
  return accountId && passwordOk ? accountId : undefined;
}
