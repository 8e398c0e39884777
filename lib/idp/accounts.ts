import "server-only";
import type { Account, FindAccount } from "oidc-provider";
import type { AppConfig } from "../config";
import { constantTimeEqual } from "./constant-time";

/**
 * The end-users of the embedded server: the investors, seeded from configuration (Alice, and
 * INVESTORS). A real server would look them up in a directory; the shape of the answers is the
 * same.
 */
export interface Investor {
  accountId: string;
  email: string;
  name: string;
}

/** The investors' accounts and their passwords: the embedded server's user directory. */
export interface InvestorAccounts {
  readonly all: readonly Investor[];
  /** The account with this id, or undefined. */
  byId(accountId: string): Investor | undefined;
  /**
   * Resolves a CIBA `login_hint` (OpenID CIBA Core §7.1) or a typed user name to an account id:
   * an investor's email (case-insensitive, as mail addresses are) or her user id (exact).
   */
  resolve(hint: string): string | undefined;
  /**
   * Checks a sign-in. The password comparison is constant-time and always runs, also for an
   * unknown user, so the answer time does not tell which part was wrong.
   */
  verify(username: string, given: string): string | undefined;
}

export function investorOf(config: AppConfig): Investor {
  return { accountId: config.investor.userId, email: config.investor.email, name: config.investor.name };
}

/** The directory for the configured investors; `passwords` maps each account id to her password. */
export function createInvestorAccounts(config: AppConfig, passwords: ReadonlyMap<string, string>): InvestorAccounts {
  const all = config.investors.map((i) => ({ accountId: i.userId, email: i.email, name: i.name }));
  const ids = new Map(all.map((i) => [i.accountId, i]));
  const emails = new Map(all.map((i) => [i.email.toLowerCase(), i]));
  const resolve = (hint: string) => {
    const value = hint.trim();
    return (ids.get(value) ?? emails.get(value.toLowerCase()))?.accountId;
  };
  // An unknown user is compared with a password nobody has, so the work done is the same.
  const decoy = `\u0000${"x".repeat(24)}`;
  return {
    all,
    byId: (accountId) => ids.get(accountId),
    resolve,
    verify(username, given) {
      const accountId = resolve(username);
      const passwordOk = constantTimeEqual(given, (accountId && passwords.get(accountId)) || decoy);
      return accountId && passwordOk ? accountId : undefined;
    },
  };
}

/** oidc-provider's findAccount: the claims released for an investor (ID token, userinfo). */
export function createFindAccount(accounts: InvestorAccounts): FindAccount {
  return (_ctx, sub): Account | undefined => {
    const investor = accounts.byId(sub);
    if (!investor) return undefined;
    return {
      accountId: investor.accountId,
      claims: () => ({ sub: investor.accountId, email: investor.email, email_verified: true, name: investor.name }),
    };
  };
}
