import "server-only";
import { assuranceFor, metadataFromDiscovery, type ServerMetadata } from "../assurance";
import { createAppFetch, type FetchLike } from "../auth/app-fetch";
import type { TokenResult } from "../auth/profiles/types";
import { readCaFile, withCaFile } from "../net/ca-fetch";
import type { AppConfig } from "../config";
import { trustedIssuer } from "../net/issuer-discovery";
import { resourceMetadataUrl } from "../protected-resource/metadata-url";
import { checkAgentToken, checkCibaEndpoint, checkUser } from "./agent-checks";
import { getJson, tenantEndpoints, unreachableHints } from "./probes";
import { DoctorReport } from "./report";

/**
 * `npm run doctor`: checks the configured identity server before the app runs, in the order a
 * failure would bite: the CA file, discovery (reachable, the issuer the MCP server will trust),
 * the signing keys, the agent's own token (obtainable, stock:read only, acceptable to the MCP
 * server), the CIBA endpoint (accepts the client, probed without naming a user), the user hint
 * (only with --send-test-approval, which notifies Alice and says so), the assurance in force (how
 * a trade is bound to Alice's approval, lib/assurance), and the running app's protected resource
 * metadata when it is up.
 */
export interface DoctorOptions {
  /** Send one real CIBA request to check the user hint (Alice gets a notification). */
  sendTestApproval?: boolean;
  /** Base fetch (tests); the CA file and PUBLIC_URL → AGENT_INTERNAL_URL mapping wrap it. */
  fetch?: FetchLike;
}

export async function runDoctor(config: AppConfig, options: DoctorOptions = {}): Promise<DoctorReport> {
  const secret = config.auth.agentClientSecret;
  const report = new DoctorReport([secret, config.wso2?.agentSecret].filter((s): s is string => Boolean(s)));
  const base = options.fetch ?? ((input, init) => fetch(input, init));
  const appFetch = createAppFetch(config.publicUrl, config.agent.internalUrl, base);
  const tenantFetch = withCaFile(appFetch, config.auth.caFile);

  summarize(report, config);
  if (config.auth.caFile && !checkCaFile(report, config.auth.caFile)) return report;
  const discovery = await checkDiscovery(report, config, tenantFetch);
  if (discovery === "unreachable") {
    report.warn("skipped", "Remaining checks skipped: the identity server is unreachable.");
    return report;
  }
  await checkJwks(report, config, tenantFetch);
  const agentToken = await checkAgentToken(report, config, appFetch);
  await checkCibaEndpoint(report, config, tenantFetch, discovery?.backchannel);
  await checkUser(report, config, appFetch, agentToken, options.sendTestApproval === true);
  checkAssurance(report, config, discovery?.metadata ?? { kind: "unavailable", reason: "no discovery document" }, agentToken);
  await checkApp(report, config, appFetch);
  return report;
}

function summarize(report: DoctorReport, config: AppConfig): void {
  const a = config.auth;
  const set = (v: string | undefined) => (v ? "set" : "missing");
  const lines = [
    a.issuerDiscovery ? `issuer: the one named at ${a.issuerDiscovery}` : `issuer ${a.issuer}`,
    `keys ${a.jwksUri}`,
    `MCP audience ${a.audience}, resource ${config.mcp.resourceUrl}`,
    `client ${a.agentClientId} (secret ${set(a.agentClientSecret)}), agent ${config.agent.id}${config.wso2 ? ` (secret ${set(config.wso2.agentSecret)})` : ""}`,
    config.investors.length > 1
      ? `investors ${config.investors.map((i) => `${i.email} / ${i.userId}`).join(", ")} (the approval test goes to the first)`
      : `investor ${config.investor.email} / ${config.investor.userId}`,
  ];
  report.ok("config", `Configuration parsed: AUTH_PROVIDER=${a.provider}`, lines.join("\n"));
}

function checkCaFile(report: DoctorReport, caFile: string): boolean {
  try {
    readCaFile(caFile);
    report.ok("ca-file", `CA file ${caFile} holds a PEM certificate`);
    return true;
  } catch (error) {
    report.fail("ca-file", "CA file unusable", error instanceof Error ? error.message : String(error), ["WSO2_CA_FILE must name a readable PEM file with the server's certificate or its CA."]);
    return false;
  }
}

async function checkDiscovery(report: DoctorReport, config: AppConfig, fetch: FetchLike): Promise<"unreachable" | { backchannel?: string; metadata: ServerMetadata } | undefined> {
  const { discovery, tokenEndpoint } = tenantEndpoints(config);
  const result = await getJson(fetch, discovery);
  if (result.kind === "unreachable") {
    report.fail("discovery", `Identity server unreachable at ${discovery}`, result.message, unreachableHints(config, result.message, discovery));
    return "unreachable";
  }
  if (result.kind !== "json" || result.status !== 200) {
    report.fail("discovery", `No discovery document at ${discovery} (HTTP ${result.status})`, undefined, [
      config.auth.provider === "wso2" ? "Check WSO2_BASE_URL, including an organisation path (/t/{tenant} or /o/{org})." : config.auth.provider === "auth0" ? "Check AUTH0_DOMAIN." : "Is the app running at PUBLIC_URL with AUTH_PROVIDER=embedded?",
    ]);
    return undefined;
  }
  const doc = result.body;
  checkIssuer(report, config, doc.issuer);
  if (doc.jwks_uri !== config.auth.jwksUri) {
    report.warn("discovery.jwks", `The server publishes its keys at ${String(doc.jwks_uri)}, the app reads ${config.auth.jwksUri}`, undefined, [
      config.auth.provider === "wso2" ? "WSO2 names its configured public URL; the app reads the keys below WSO2_BASE_URL. Fine when both reach this server; otherwise set AUTH_JWKS_URI." : "Leave AUTH_JWKS_URI unset or set it to the published value.",
    ]);
  }
  if (tokenEndpoint && doc.token_endpoint !== tokenEndpoint) report.warn("discovery.token", `The token endpoint is ${String(doc.token_endpoint)}, the app uses ${tokenEndpoint}`);
  const backchannel = typeof doc.backchannel_authentication_endpoint === "string" ? doc.backchannel_authentication_endpoint : undefined;
  if (!backchannel) {
    report.fail("discovery.ciba", "The server does not announce a CIBA endpoint (backchannel_authentication_endpoint)", undefined, [
      config.auth.provider === "auth0" ? "CIBA must be available on the tenant (Auth0 offers it on Enterprise plans)." : "Use a server version with CIBA (WSO2 Identity Server 7.x / Asgardeo).",
    ]);
  }
  return { backchannel, metadata: metadataFromDiscovery(doc) };
}

/**
 * The issuer the server names against the one the app trusts. Without AUTH_ISSUER a WSO2 app trusts
 * the named one itself (it may differ from `{base}/oauth2/token`: the server's public URL); with
 * AUTH_ISSUER, or for a provider with a fixed issuer, both must be equal or every ID token and
 * access token is refused.
 */
function checkIssuer(report: DoctorReport, config: AppConfig, named: unknown): void {
  if (typeof named !== "string") {
    report.fail("discovery.issuer", "The discovery document names no issuer", undefined, ["Check the server's OIDC configuration; AUTH_ISSUER can name the issuer meanwhile."]);
  } else if (config.auth.issuerDiscovery) {
    const usual = named === config.auth.issuer ? undefined : `It is not ${config.auth.issuer}: WSO2 names its configured public URL (host name, proxy; the super tenant without /t/carbon.super). The agent and the MCP server trust the named issuer.`;
    report.ok("discovery", `Discovery reachable; issuer ${named} (named by the server)`, usual);
  } else if (named !== config.auth.issuer) {
    report.fail("discovery.issuer", "Issuer mismatch: the agent and the MCP server would refuse every token", `the server says ${named}\nthe app trusts  ${config.auth.issuer}`, [
      config.auth.provider === "auth0"
        ? "Leave AUTH_ISSUER unset (it is https://AUTH0_DOMAIN/ with the trailing slash) or set it to the value above."
        : config.auth.provider === "wso2"
          ? "Leave AUTH_ISSUER unset (the app then trusts the issuer the discovery document names) or set it to the value above."
          : "Leave AUTH_ISSUER unset (derived from PUBLIC_URL) or set it to the value above.",
    ]);
  } else {
    report.ok("discovery", `Discovery reachable; issuer ${config.auth.issuer}`);
  }
}

async function checkJwks(report: DoctorReport, config: AppConfig, fetch: FetchLike): Promise<void> {
  const result = await getJson(fetch, config.auth.jwksUri);
  if (result.kind === "unreachable") return report.fail("jwks", `Signing keys unreachable at ${config.auth.jwksUri}`, result.message, unreachableHints(config, result.message, config.auth.jwksUri));
  const keys = result.kind === "json" && Array.isArray(result.body.keys) ? (result.body.keys as { kid?: unknown; use?: unknown }[]) : undefined;
  if (!keys || result.status !== 200) return report.fail("jwks", `No key set at ${config.auth.jwksUri} (HTTP ${result.status})`, undefined, ["Leave AUTH_JWKS_URI unset, or set it to the jwks_uri of the discovery document."]);
  const signing = keys.filter((k) => k.use === undefined || k.use === "sig");
  if (signing.length === 0) return report.fail("jwks", "The key set has no signing keys: the MCP server cannot verify any token", undefined, ["Check the server's signing key configuration (keystore) and AUTH_JWKS_URI."]);
  report.ok("jwks", `Key set has ${signing.length} signing key(s): ${signing.map((k) => String(k.kid ?? "no kid")).join(", ")}`);
}

/**
 * One line per guarantee (lib/assurance/derive.ts): ✓ when it holds, – when it is not needed
 * because another covers it, ! when it does not hold or cannot be known yet. The doctor has no
 * on-behalf-of token; the agent token it just obtained stands for the server's DPoP policy.
 */
function checkAssurance(report: DoctorReport, config: AppConfig, metadata: ServerMetadata, agentToken: TokenResult | undefined): void {
  const assurance = assuranceFor(config, metadata, { agentToken: agentToken?.claims ?? null, oboToken: null });
  for (const g of assurance.guarantees) {
    const title = `Assurance: ${g.title}: ${g.state === "holds" ? "holds" : g.state === "unknown" ? "unknown" : "not in force"}. ${g.summary}`;
    const detail = g.basis.join("\n");
    if (g.tone === "good") report.ok(`assurance.${g.id}`, title, detail);
    else if (g.tone === "neutral") report.info(`assurance.${g.id}`, title, detail);
    else report.warn(`assurance.${g.id}`, title, detail);
  }
}

async function checkApp(report: DoctorReport, config: AppConfig, fetch: FetchLike): Promise<void> {
  const result = await getJson(fetch, resourceMetadataUrl(config.mcp.resourceUrl));
  if (result.kind !== "json" || result.status !== 200) {
    report.warn("app", `The app is not answering at ${config.publicUrl}: its MCP metadata was not checked`, undefined, ["Start it (npm run dev) and run the doctor again to compare the running configuration."]);
    return;
  }
  const servers = Array.isArray(result.body.authorization_servers) ? result.body.authorization_servers : [];
  const issuer = await trustedIssuer(config.auth, fetch).catch(() => config.auth.issuer);
  if (result.body.resource !== config.mcp.resourceUrl || !servers.includes(issuer)) {
    report.fail("app", "The running app uses another configuration", `resource ${String(result.body.resource)}, authorization servers ${servers.join(" ")}`, ["Restart the app after changing .env."]);
    return;
  }
  report.ok("app", `The running app's MCP server names ${issuer} for ${config.mcp.resourceUrl}`);
}
