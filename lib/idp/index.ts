import "server-only";
import Provider, { type ClientMetadata } from "oidc-provider";
import type { AppConfig } from "../config";
import { assertDevDefaultAllowed } from "../dev-defaults";
import type { Queryable } from "../store/db";
import { createInvestorAccounts } from "./accounts";
import { sweepExpiredModels } from "./adapter";
import { createDecisionPageHandler } from "./decision-page/handler";
import { DECISION_PAGE_PATH } from "./decision-page/pages";
import { createSessionCodec } from "./decision-page/session";
import { agentClient, dashboardClient, testClientFromConfig } from "./clients";
import { createLoginPageHandler } from "./login-page/handler";
import { LOGIN_PAGE_PATH } from "./login-page/views";
import { revokeGrantOfRequest } from "./grant-revocation";
import { currentClientSecret, revokeClientAccess, rotateClientSecret, saveClient, type ClientRevocationResult } from "./client-revocation";
import { loadIdentitySecrets } from "./identity-secrets";
import { createMailer } from "./mailer";
import { createOwnTokenVerifier } from "./own-tokens";
import { createCibaMiddleware } from "./ciba-middleware";
import { buildOidcProviderConfiguration } from "./oidc-provider-config";
import { SignInLimiter } from "./rate-limit";
import { createResourcePolicy } from "./resource-server";
import type { RegistrationPolicy } from "./registration-policy";
import { publicJwk } from "./secrets";
import { close, createInternalRouter, listen, MOUNT_PATH, portOf } from "./server";
import { createTokenExchangeHandler, TOKEN_EXCHANGE_PARAMS } from "./token-exchange";
import { TOKEN_EXCHANGE_GRANT_TYPE } from "../protocol";

/**
 * The embedded authorization server (AUTH_PROVIDER=embedded): oidc-provider, a certified OpenID
 * Provider, configured as a stand-in for WSO2 Identity Server or Auth0 so that the whole flow runs
 * on a laptop. It listens on a loopback port; Next.js proxies PUBLIC_URL/oidc/* to it, and its
 * issuer is PUBLIC_URL/oidc, so users and clients see one origin.
 *
 * It knows only its configuration and the store: nothing here imports the agent, the MCP server
 * or the ledger.
 */
export interface EmbeddedIdp {
  issuer: string;
  /** The internal loopback port (the proxy target). */
  port: number;
  /**
   * The agent's current client secret, for the in-process agent: AGENT_CLIENT_SECRET or the
   * generated one, until the kill switch rotates it (then the stored rotated one).
   */
  agentClientSecret: string;
  /** The dashboard's client secret, from DASHBOARD_CLIENT_SECRET or generated; for Alice's sign-in. */
  dashboardClientSecret: string;
  /**
   * The kill switch at this server: the agent client's secret replaced by one nobody holds, its
   * pending CIBA requests cancelled, its grants revoked (client-revocation.ts). Idempotent.
   */
  revokeAgentClient(reason: string): Promise<ClientRevocationResult>;
  /**
   * Withdraws what one CIBA request produced: its grant with the refresh and access tokens stored
   * under it (a revoked standing mandate), or the request itself while it is still pending.
   */
  revokeGrantOfRequest(authReqId: string, reason: string): Promise<"revoked" | "cancelled" | "unknown">;
  /** A new secret for the agent client (re-enabling it); the previous one is refused from now. */
  renewAgentClientSecret(): Promise<string>;
  /**
   * The agent client's current secret as the store holds it: another instance sharing the store
   * may have rotated it (the kill switch and its re-enable) since this one started.
   */
  readAgentClientSecret(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartIdpOptions {
  config: AppConfig;
  db: Queryable;
  /** Called when a mail lands in the embedded mailbox (the runtime publishes it on the bus). */
  onMail?: (id: string, to: string) => void;
  /**
   * Called when the user has decided a CIBA request, with its auth_req_id: the in-process stand-in
   * for CIBA ping mode, whose notification endpoint must be https (CIBA Core §4), which a laptop's
   * http://localhost is not. The client still redeems the request over HTTP.
   */
  onDecision?: (authReqId: string) => void;
  /** Extra clients (tests); IDP_TEST_CLIENT adds one too. */
  extraClients?: ClientMetadata[];
}

const SWEEP_INTERVAL_MS = 10 * 60_000;

export async function startEmbeddedIdp({ config, db, onMail, onDecision, extraClients = [] }: StartIdpOptions): Promise<EmbeddedIdp> {
  assertDevDefaultAllowed(config, "The embedded authorization server (AUTH_PROVIDER=embedded)");
  const issuer = `${config.publicUrl}${MOUNT_PATH}`;
  if (config.auth.issuer !== issuer) {
    // Only tests do this (their own issuer next to the embedded one); say it, do not stop.
    console.warn(`[idp] AUTH_ISSUER is ${config.auth.issuer}, not the embedded server's ${issuer}: the MCP server will not trust what /oidc issues`);
  }

  const secrets = await loadIdentitySecrets(config, db);
  const accounts = createInvestorAccounts(config, secrets.investorPasswords);
  const verifyOwnToken = createOwnTokenVerifier(issuer, secrets.signingKeys.map(publicJwk));
  const mailer = createMailer({ config, db, onMail });
  const resources = createResourcePolicy(config);
  const testClient = testClientFromConfig(config);
  // The agent client lives in the store (not among the static clients) so that its secret can be
  // replaced while the server runs; a rotated secret outlives AGENT_CLIENT_SECRET.
  const agentMetadata = (secret: string) => agentClient(config, secret);
  const agentSecret = await currentClientSecret(db, secrets.agentClientSecret);
  if (agentSecret.rotated && config.auth.agentClientSecret) {
    console.warn("[idp] the agent client credential from the environment is ignored: the kill switch rotated it and the store keeps the current one");
  }
  await saveClient(db, agentMetadata(agentSecret.secret));
  let agentClientSecret = agentSecret.secret;
  const clients = [dashboardClient(config, secrets.dashboardClientSecret), ...(testClient ? [testClient] : []), ...extraClients];
  const registration: RegistrationPolicy = {
    trustedClientIds: new Set([config.auth.agentClientId, ...clients.map((c) => c.client_id)]),
    reservedNames: ["Sleeping Guardian", config.agent.name],
  };

  const provider = new Provider(
    issuer,
    buildOidcProviderConfiguration({
      config,
      db,
      accounts,
      mailer,
      verifyOwnToken,
      approvalBaseUrl: `${config.publicUrl}${DECISION_PAGE_PATH}`,
      clients,
      signingKeys: secrets.signingKeys,
      cookieKey: secrets.cookieKey,
      resources,
      registration,
    }),
  );
  // Behind the Next.js proxy: the public origin comes from X-Forwarded-Host / -Proto.
  provider.proxy = true;
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT_TYPE, createTokenExchangeHandler(verifyOwnToken, resources), TOKEN_EXCHANGE_PARAMS);
  provider.use(createCibaMiddleware(config.idp.cibaIntervalSeconds));
  provider.on("server_error", (_ctx, error) => console.error("[idp] server error:", error.message));

  // One limiter and one codec for both pages where Alice types her password.
  const sessions = createSessionCodec(secrets.cookieKey);
  const limiter = new SignInLimiter();
  const decisionPage = createDecisionPageHandler({ config, db, provider, accounts, sessions, limiter, onDecision });
  const loginPage = createLoginPageHandler({
    config,
    provider,
    accounts,
    sessions,
    limiter,
    firstPartyClients: new Set([config.signIn.clientId]),
    registration,
    db,
  });
  const server = await listen(
    config.idp.port,
    createInternalRouter(provider.callback(), [
      { path: DECISION_PAGE_PATH, web: decisionPage },
      { path: LOGIN_PAGE_PATH, node: loginPage },
    ]),
  );
  const sweep = setInterval(() => {
    sweepExpiredModels(db).catch((error) => console.warn("[idp] sweep failed:", (error as Error).message));
  }, SWEEP_INTERVAL_MS);
  sweep.unref();

  const port = portOf(server);
  console.log(`[idp] embedded authorization server: issuer ${issuer}, internal port ${port}, client ${config.auth.agentClientId}`);
  let stopped = false;
  return {
    issuer,
    port,
    get agentClientSecret() {
      return agentClientSecret;
    },
    dashboardClientSecret: secrets.dashboardClientSecret,
    revokeAgentClient: (reason) => revokeClientAccess(provider, db, { clientId: config.auth.agentClientId, reason, metadataFor: agentMetadata }),
    revokeGrantOfRequest: (authReqId, reason) => revokeGrantOfRequest(provider, db, authReqId, reason),
    async renewAgentClientSecret() {
      agentClientSecret = await rotateClientSecret(db, agentMetadata);
      return agentClientSecret;
    },
    async readAgentClientSecret() {
      agentClientSecret = (await currentClientSecret(db, secrets.agentClientSecret)).secret;
      return agentClientSecret;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweep);
      await close(server);
      mailer.close();
    },
  };
}
