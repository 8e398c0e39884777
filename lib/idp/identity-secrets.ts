import "server-only";
import type { JWK } from "jose";
import type { AppConfig } from "../config";
import { announceDevDefault } from "../dev-defaults";
import type { Queryable } from "../store/db";
import { generateSigningKey, loadOrCreateSecret, randomPassword, randomSecret } from "./secrets";

/**
 * The secrets the embedded server runs with. From the environment when set; otherwise generated
 * on first run, stored, and announced as development defaults:
 *
 * - signing keys: generated, never printed;
 * - the agent's client secret: never printed (the runtime hands it to the agent in-process);
 * - the dashboard's client secret: never printed (the app's sign-in uses it in-process);
 * - Alice's password: printed once, when generated, so that the person running the demo can sign
 *   in; INVESTOR_PASSWORD chooses one instead.
 */
export interface IdentitySecrets {
  signingKeys: JWK[];
  cookieKey: string;
  agentClientSecret: string;
  dashboardClientSecret: string;
  investorPassword: string;
  /** Every investor's password by account id: the first one's is investorPassword. */
  investorPasswords: Map<string, string>;
}

export async function loadIdentitySecrets(config: AppConfig, db: Queryable): Promise<IdentitySecrets> {
  const keys = await loadOrCreateSecret(db, "signing_keys", async () => [await generateSigningKey()]);
  announceDevDefault(
    "idp-signing-keys",
    `Embedded identity server: ${keys.created ? "generated" : "using"} development RS256 signing keys stored in the database ` +
      "(not for production: a real deployment uses WSO2 Identity Server or Auth0).",
  );
  const cookieKey = await loadOrCreateSecret(db, "cookie_key", randomSecret);

  let agentClientSecret = config.auth.agentClientSecret;
  if (!agentClientSecret) {
    const stored = await loadOrCreateSecret(db, "agent_client_secret", randomSecret);
    agentClientSecret = stored.value;
    // Never printed: the runtime hands it to the agent in-process. Whoever wants to call the
    // token endpoint by hand sets AGENT_CLIENT_SECRET.
    announceDevDefault(
      "idp-agent-client-secret",
      `The agent client "${config.auth.agentClientId}" uses a ${stored.created ? "newly generated" : "generated"} secret stored in the ` +
        "database and handed to the agent in-process (never printed; set AGENT_CLIENT_SECRET to choose one).",
    );
  }

  // The dashboard's secret is used only inside this process (Alice's sign-in): never printed.
  const dashboardClientSecret = config.signIn.clientSecret ?? (await loadOrCreateSecret(db, "dashboard_client_secret", randomSecret)).value;

  let investorPassword = config.idp.investorPassword;
  if (!investorPassword) {
    const stored = await loadOrCreateSecret(db, "investor_password", randomPassword);
    investorPassword = stored.value;
    announceDevDefault(
      "idp-investor-password",
      stored.created
        ? `${config.investor.name} signs in to approve requests as ${config.investor.email} with the generated password ` +
            `${stored.value} (printed only now; set INVESTOR_PASSWORD to choose one).`
        : `${config.investor.name} signs in as ${config.investor.email} with the password printed when it was generated on the ` +
            `first start. Set INVESTOR_PASSWORD to choose one, or delete ${config.store.dataDir}/ to start over.`,
    );
  }

  const investorPasswords = new Map([[config.investor.userId, investorPassword]]);
  for (const investor of config.investors.slice(1)) {
    if (investor.password) {
      investorPasswords.set(investor.userId, investor.password);
      continue;
    }
    const stored = await loadOrCreateSecret(db, `investor_password:${investor.userId}`, randomPassword);
    investorPasswords.set(investor.userId, stored.value);
    if (stored.created) {
      announceDevDefault(
        `idp-investor-password:${investor.userId}`,
        `${investor.name} signs in as ${investor.email} with the generated password ${stored.value} (printed only now; give it as the fourth field of her INVESTORS entry to choose one).`,
      );
    }
  }

  return { signingKeys: keys.value, cookieKey: cookieKey.value, agentClientSecret, dashboardClientSecret, investorPassword, investorPasswords };
}
