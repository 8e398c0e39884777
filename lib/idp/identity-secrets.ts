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
 * - the agent's client secret: printed once, when generated, and never again (the runtime hands it
 *   to the agent in-process);
 * - Alice's password: printed at each start-up, so that the person running the demo can sign in.
 */
export interface IdentitySecrets {
  signingKeys: JWK[];
  cookieKey: string;
  agentClientSecret: string;
  investorPassword: string;
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
    announceDevDefault(
      "idp-agent-client-secret",
      stored.created
        ? `Generated a client secret for the agent client "${config.auth.agentClientId}": ${stored.value} ` +
            "(shown only this once; stored in the database; set AGENT_CLIENT_SECRET to choose one)."
        : `The agent client "${config.auth.agentClientId}" uses the secret generated on first run (stored in the database; set AGENT_CLIENT_SECRET to choose one).`,
    );
  }

  let investorPassword = config.idp.investorPassword;
  if (!investorPassword) {
    const stored = await loadOrCreateSecret(db, "investor_password", randomPassword);
    investorPassword = stored.value;
    announceDevDefault(
      "idp-investor-password",
      `${config.investor.name} signs in to approve requests as ${config.investor.email} with the generated password ` +
        `${stored.value} (set INVESTOR_PASSWORD to choose one).`,
    );
  }

  return { signingKeys: keys.value, cookieKey: cookieKey.value, agentClientSecret, investorPassword };
}
