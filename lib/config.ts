import { z } from "zod";
import { parseMoney } from "./money";
import { isLoopbackHttp } from "./net/loopback";
import { STOCK_TRADE_TYPE } from "./protocol";

/**
 * The one place that reads the environment. Parsed once with zod; every default makes the
 * embedded mode work with no `.env` at all. A bad value stops start-up with a message that names
 * the variable and what it allows.
 */

const money = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const cents = parseMoney(text);
      if (cents === null || cents <= 0) {
        ctx.addIssue({ code: "custom", message: `${name} must be a positive amount like 150.00` });
        return z.NEVER;
      }
      return cents;
    });

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));
const optionalUrl = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined))
  .pipe(z.url().optional());

/** One investor the app serves: her account at the identity server and her starting cash. */
export interface InvestorConfig {
  name: string;
  email: string;
  userId: string;
  initialBalanceCents: number;
  /** Her password at the embedded identity server (INVESTORS' fourth field); generated when absent. */
  password?: string;
}

const INVESTOR_ID = /^[A-Za-z0-9._@|-]{1,128}$/;
const MAX_INVESTORS = 1000;

/**
 * INVESTORS: the investors after the first, comma-separated, each `user_id:Name:email` with an
 * optional `:password` for the embedded identity server, e.g.
 * `bob:Bob:bob@example.com,carol:Carol:carol@example.com`. The user id is the `sub` the identity
 * server issues for her (with WSO2 / Auth0, the tenant user's id). A string names the problem.
 */
export function parseInvestorList(text: string): Array<Omit<InvestorConfig, "initialBalanceCents">> | string {
  const entries = text.split(",").map((e) => e.trim()).filter(Boolean);
  if (entries.length > MAX_INVESTORS) return `INVESTORS lists at most ${MAX_INVESTORS} investors`;
  const seen = new Set<string>();
  const out: Array<Omit<InvestorConfig, "initialBalanceCents">> = [];
  for (const entry of entries) {
    const [userId = "", name = "", email = "", ...rest] = entry.split(":").map((p) => p.trim());
    const password = rest.length ? rest.join(":") : undefined;
    if (!INVESTOR_ID.test(userId)) return `INVESTORS: "${userId.slice(0, 40)}" is not a user id like bob (entries are user_id:Name:email)`;
    if (!name || name.length > 100) return `INVESTORS: ${userId} needs a name (entries are user_id:Name:email)`;
    if (!z.email().safeParse(email).success) return `INVESTORS: ${userId} needs an email address (entries are user_id:Name:email)`;
    const keys = [`id:${userId}`, `mail:${email.toLowerCase()}`];
    if (keys.some((k) => seen.has(k))) return `INVESTORS: ${userId} (${email}) is listed twice`;
    keys.forEach((k) => seen.add(k));
    out.push({ userId, name, email, ...(password ? { password } : {}) });
  }
  return out;
}

/**
 * Whether the investor `config` is seen from (configFor) holds the kill switch: the agent's OAuth
 * client acts for every investor, so only the first, who registered it, may revoke or re-enable it.
 */
export function holdsKillSwitch(config: Pick<AppConfig, "investor" | "investors">): boolean {
  return config.investors[0]?.userId === config.investor.userId;
}

/** The configured investor with this `sub`, or undefined: the only investors the app serves. */
export function findInvestor(config: Pick<AppConfig, "investors">, sub: string | undefined): InvestorConfig | undefined {
  return sub === undefined ? undefined : config.investors.find((i) => i.userId === sub);
}

/**
 * The configuration seen from one investor's side: `investor` is she. Her agent, her sign-in
 * hint and her approval requests read `config.investor`, so each runs on this view.
 */
export function configFor(config: AppConfig, investor: InvestorConfig): AppConfig {
  return investor.userId === config.investor.userId ? config : { ...config, investor };
}

/** The agent's model providers (MODEL_PROVIDER). */
export const MODEL_PROVIDERS = ["gemini", "openai-compatible", "rules"] as const;
export type ModelProvider = (typeof MODEL_PROVIDERS)[number];

/** The Gemini model asked when MODEL_NAME is unset. */
export const DEFAULT_GEMINI_MODEL = "gemini-2.5-flash";

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: port(3000),
  PUBLIC_URL: optionalUrl,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  ALLOW_DEV_DEFAULTS_IN_PRODUCTION: flag,

  STOCK_SYMBOL: z
    .string()
    .default("NVDA")
    .pipe(z.string().regex(/^[A-Z]{1,5}$/, "STOCK_SYMBOL must be 1-5 capital letters, like NVDA")),
  INITIAL_PRICE: money("INITIAL_PRICE", "150.00"),
  PRICE_THRESHOLD: money("PRICE_THRESHOLD", "140.00"),
  TRADE_AMOUNT: money("TRADE_AMOUNT", "5000.00"),
  INITIAL_BALANCE: money("INITIAL_BALANCE", "10000.00"),
  MAX_ORDER_QUANTITY: z.coerce.number().int().min(1).max(100000).default(1000),
  MARKET_TICK_MS: z.coerce.number().int().min(50).max(60000).default(1000),

  INVESTOR_NAME: z.string().min(1).default("Alice"),
  INVESTOR_EMAIL: z.email().default("alice@example.com"),
  INVESTOR_USER_ID: z
    .string()
    .default("alice")
    .pipe(z.string().regex(/^[A-Za-z0-9._@|:-]{1,128}$/, "INVESTOR_USER_ID must be an id like alice")),
  INVESTORS: z
    .string()
    .default("")
    .transform((text, ctx) => {
      const entries = parseInvestorList(text);
      if (typeof entries === "string") {
        ctx.addIssue({ code: "custom", message: entries });
        return z.NEVER;
      }
      return entries;
    }),
  AGENT_ID: z
    .string()
    .default("aurelius")
    .pipe(z.string().regex(/^[A-Za-z0-9._@|:-]{1,128}$/, "AGENT_ID must be an id like aurelius")),
  AGENT_NAME: z.string().min(1).default("Aurelius"),

  AUTH_PROVIDER: z.enum(["embedded", "wso2", "auth0"]).default("embedded"),
  AUTH_ISSUER: optionalUrl,
  AUTH_JWKS_URI: optionalUrl,
  MCP_RESOURCE_URL: optionalUrl,
  MCP_AUDIENCE: optionalString,
  AGENT_CLIENT_ID: z.string().min(1).default("aurelius-agent"),
  AGENT_CLIENT_SECRET: optionalString,
  // Alice's sign-in to the dashboard (authorization code + PKCE at the same identity server).
  DASHBOARD_CLIENT_ID: z.string().min(1).default("sleeping-guardian-dashboard"),
  DASHBOARD_CLIENT_SECRET: optionalString,
  SESSION_MAX_AGE_SECONDS: z.coerce.number().int().min(300).max(30 * 86400).default(86400),

  // A real tenant (AUTH_PROVIDER=wso2 | auth0); see docs/wso2.md and docs/auth0.md.
  WSO2_BASE_URL: optionalUrl,
  WSO2_AGENT_SECRET: optionalString,
  WSO2_REDIRECT_URI: optionalUrl,
  WSO2_NOTIFICATION_CHANNEL: z.enum(["email", "sms", "external"]).default("email"),
  WSO2_CA_FILE: optionalString,
  AUTH0_DOMAIN: optionalString,
  AUTH0_RAR_TYPE: z
    .string()
    .default(STOCK_TRADE_TYPE)
    .pipe(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "AUTH0_RAR_TYPE must be letters, digits and _ . - like stock_trade")),
  AUTH0_CLIENT_AUTH: z.enum(["client_secret_post", "client_secret_basic"]).default("client_secret_post"),

  EMBEDDED_IDP_PORT: port(0),
  INVESTOR_PASSWORD: optionalString,
  CIBA_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(60).default(2),
  CIBA_MAX_EXPIRY_SECONDS: z.coerce.number().int().min(10).max(3600).default(120),
  OBO_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  MAX_PENDING_APPROVALS: z.coerce.number().int().min(1).max(50).default(3),
  IDP_TEST_CLIENT: optionalString,

  DATABASE_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default(".data"),
  INSTANCE_ID: optionalString.pipe(z.string().regex(/^[A-Za-z0-9._:-]{1,40}$/, "INSTANCE_ID must be 1-40 letters, digits or ._:-").optional()),
  LEASE_CHECK_MS: z.coerce.number().int().min(100).max(10000).default(1000),

  // The agent's model (lib/agent/models): Gemini, an OpenAI-compatible server, or the rules model.
  MODEL_PROVIDER: optionalString.pipe(z.enum(MODEL_PROVIDERS, `MODEL_PROVIDER must be one of ${MODEL_PROVIDERS.join(", ")}`).optional()),
  GOOGLE_GENERATIVE_AI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  MODEL_NAME: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9._:/@+-]{1,200}$/, "MODEL_NAME must be a model id without spaces, like gemini-2.5-flash or llama3.1:8b")
      .optional(),
  ),

  SMTP_URL: optionalUrl,
  SMTP_FROM: z.email().optional(),

  // The agent loop (lib/agent).
  AGENT_ENABLED: z
    .enum(["true", "false", "1", "0", ""])
    .default("true")
    .transform((v) => v !== "false" && v !== "0"),
  AGENT_INTERNAL_URL: optionalUrl,
  AGENT_COOLDOWN_SECONDS: z.coerce.number().int().min(0).max(86400).default(60),
  AGENT_APPROVAL_EXPIRY_SECONDS: z.coerce.number().int().min(10).max(3600).default(120),
  AGENT_LIMIT_TOLERANCE_PERCENT: z.coerce.number().min(0).max(10).default(1),
  AGENT_MODEL_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  AGENT_PRICE_POLL_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
});

export type Env = z.infer<typeof EnvSchema>;

/** Every variable the app reads (documented one by one in .env.example). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape).filter((name) => name !== "NODE_ENV");

export interface AppConfig {
  env: Env["NODE_ENV"];
  port: number;
  publicUrl: string;
  logLevel: Env["LOG_LEVEL"];
  allowDevDefaultsInProduction: boolean;
  market: { symbol: string; initialPriceCents: number; tickMs: number };
  mandate: { thresholdCents: number; tradeAmountCents: number; maxQuantity: number };
  /** The first investor (INVESTOR_*): the one the embedded defaults create and the agent's owner. */
  investor: InvestorConfig;
  /** Every investor the app serves: the first one, then INVESTORS, each with her own data and agent. */
  investors: InvestorConfig[];
  agent: {
    id: string;
    name: string;
    /** Run the agent loop in this process (AGENT_ENABLED, default true). */
    enabled: boolean;
    /**
     * Where the in-process agent reaches this app's own /mcp and /oidc. Requests for PUBLIC_URL's
     * origin are sent here instead (same path), e.g. when PUBLIC_URL is a TLS proxy the server
     * cannot reach itself through. Default: PUBLIC_URL.
     */
    internalUrl: string;
    /** Wait after a denial, expiry, failure or declined proposal before asking the model again. */
    cooldownSeconds: number;
    /** CIBA requested_expiry: how long Alice has to decide. */
    approvalExpirySeconds: number;
    /** limit_price = price + this tolerance, in basis points (1 % = 100). */
    limitToleranceBps: number;
    modelTimeoutMs: number;
    /**
     * The agent's own timer. It checks the price on every update the MCP server pushes over its
     * price subscription; this slower timer keeps it working while that stream is down.
     */
    pricePollMs: number;
  };
  auth: {
    provider: Env["AUTH_PROVIDER"];
    /**
     * The issuer the MCP server trusts (`iss`) and the agent checks ID tokens against. For WSO2
     * without AUTH_ISSUER this is only where the server usually is (`{base}/oauth2/token`): both
     * sides trust the issuer named by `issuerDiscovery` instead (lib/net/issuer-discovery.ts).
     */
    issuer: string;
    /**
     * WSO2 without AUTH_ISSUER: the discovery document whose `issuer` is trusted. WSO2 signs with
     * the issuer of its configured public URL, which the base URL does not tell (a
     * /t/carbon.super path, a proxy, another host name).
     */
    issuerDiscovery?: string;
    jwksUri: string;
    /** The `aud` the MCP server requires: its resource URL, or the client id for WSO2. */
    audience: string;
    agentClientId: string;
    agentClientSecret?: string;
    /**
     * How the broker binds a trade to Alice's approval: "rar" when the identity server puts the
     * order into the token (authorization_details), "recorded-approval" when it cannot (WSO2,
     * whose CIBA endpoint reads no authorization_details): then the order must be approved in the
     * store and the token must be the one recorded for that approval (mcp/stored-order.ts). Never
     * taken from the token: a token without authorization_details is refused under "rar".
     */
    binding: "rar" | "recorded-approval";
    /** A PEM file of extra trusted CAs for the identity server (WSO2_CA_FILE; self-signed 9443). */
    caFile?: string;
  };
  /** AUTH_PROVIDER=wso2: WSO2 Identity Server or Asgardeo (docs/wso2.md). */
  wso2?: {
    /** `https://host:9443`, `…/t/{tenant}` or `…/o/{org}`: every endpoint is below it. */
    baseUrl: string;
    /** The agent identity's secret (its id is AGENT_ID), for app-native authentication. */
    agentSecret?: string;
    redirectUri: string;
    notificationChannel: "email" | "sms" | "external";
  };
  /** AUTH_PROVIDER=auth0 (docs/auth0.md). */
  auth0?: {
    /** `https://{domain}` (http only for a loopback test server). */
    origin: string;
    /** The <name> of `urn:auth0:schemas:authorization-details:v1:<name>` registered on the API. */
    rarType: string;
    clientAuth: "client_secret_post" | "client_secret_basic";
  };
  mcp: { resourceUrl: string };
  /**
   * Alice's sign-in to the dashboard: a confidential client of the identity server using the
   * authorization code flow with PKCE. The embedded server registers it itself (with a generated
   * secret unless DASHBOARD_CLIENT_SECRET is set); at WSO2 or Auth0 it is an application of the
   * tenant whose callback is `redirectUri`. Without a secret there, nobody can sign in and the
   * dashboard shows only the public market.
   */
  signIn: { clientId: string; clientSecret?: string; redirectUri: string; sessionMaxAgeSeconds: number };
  /** The embedded authorization server (AUTH_PROVIDER=embedded). */
  idp: {
    /** Internal loopback port; 0 picks a free one. The public face is PUBLIC_URL/oidc. */
    port: number;
    investorPassword?: string;
    cibaIntervalSeconds: number;
    cibaMaxExpirySeconds: number;
    oboTokenTtlSeconds: number;
    maxPendingPerClientAndUser: number;
    /** Tests only: a second client "client_id:secret" (IDP_TEST_CLIENT), fenced like a dev default. */
    testClient?: string;
  };
  store: { databaseUrl?: string; dataDir: string };
  /**
   * Several instances on one PostgreSQL: this instance's name (INSTANCE_ID, or host and process id)
   * and how often it asks for a free lease (lib/store/leases.ts).
   */
  instance: { id?: string; leaseCheckMs: number };
  model: {
    /** Which model the agent asks: MODEL_PROVIDER, or the one whose settings are present. */
    provider: ModelProvider;
    /** The model id the provider is asked for ("rules" for the built-in rules model). */
    name: string;
    googleApiKey?: string;
    /** MODEL_PROVIDER=openai-compatible: a chat-completions server (Ollama, LM Studio, vLLM, llama.cpp). */
    openaiCompatible?: { baseUrl: string; apiKey?: string };
  };
  /** SMTP_URL: also send mail through this server; SMTP_FROM: its sender address (default no-reply@ the PUBLIC_URL host). */
  mail: { smtpUrl?: string; from?: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses an environment (process.env by default). Throws ConfigError naming each bad variable. */
export function parseConfig(source: Record<string, string | undefined> = process.env): AppConfig {
  const result = EnvSchema.safeParse(source);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = issue.path.join(".") || "environment";
        return issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
      }),
    );
  }
  const e = result.data;
  if (e.PRICE_THRESHOLD >= e.INITIAL_PRICE * 10) {
    throw new ConfigError(["PRICE_THRESHOLD: must be below ten times INITIAL_PRICE"]);
  }
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, "");
  const resourceUrl = (e.MCP_RESOURCE_URL ?? `${publicUrl}/mcp`).replace(/\/+$/, "");
  const tenant = tenantSettings(e, source, publicUrl, resourceUrl);
  const first: InvestorConfig = { name: e.INVESTOR_NAME, email: e.INVESTOR_EMAIL, userId: e.INVESTOR_USER_ID, initialBalanceCents: e.INITIAL_BALANCE };
  if (e.INVESTORS.some((i) => i.userId === first.userId || i.email.toLowerCase() === first.email.toLowerCase())) {
    throw new ConfigError([`INVESTORS: ${first.userId} (INVESTOR_USER_ID / INVESTOR_EMAIL) is the first investor already; list only the others`]);
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    publicUrl,
    logLevel: e.LOG_LEVEL,
    allowDevDefaultsInProduction: e.ALLOW_DEV_DEFAULTS_IN_PRODUCTION,
    market: { symbol: e.STOCK_SYMBOL, initialPriceCents: e.INITIAL_PRICE, tickMs: e.MARKET_TICK_MS },
    mandate: {
      thresholdCents: e.PRICE_THRESHOLD,
      tradeAmountCents: e.TRADE_AMOUNT,
      maxQuantity: e.MAX_ORDER_QUANTITY,
    },
    investor: first,
    investors: [first, ...e.INVESTORS.map((i) => ({ ...i, initialBalanceCents: e.INITIAL_BALANCE }))],
    agent: {
      id: tenant.agentId,
      name: e.AGENT_NAME,
      enabled: e.AGENT_ENABLED,
      internalUrl: (e.AGENT_INTERNAL_URL ?? publicUrl).replace(/\/+$/, ""),
      cooldownSeconds: e.AGENT_COOLDOWN_SECONDS,
      approvalExpirySeconds: e.AGENT_APPROVAL_EXPIRY_SECONDS,
      limitToleranceBps: Math.round(e.AGENT_LIMIT_TOLERANCE_PERCENT * 100),
      modelTimeoutMs: e.AGENT_MODEL_TIMEOUT_SECONDS * 1000,
      pricePollMs: e.AGENT_PRICE_POLL_SECONDS * 1000,
    },
    auth: {
      provider: e.AUTH_PROVIDER,
      issuer: tenant.issuer,
      issuerDiscovery: tenant.issuerDiscovery,
      jwksUri: tenant.jwksUri,
      audience: tenant.audience,
      agentClientId: e.AGENT_CLIENT_ID,
      agentClientSecret: e.AGENT_CLIENT_SECRET,
      binding: tenant.binding,
      caFile: tenant.caFile,
    },
    wso2: tenant.wso2,
    auth0: tenant.auth0,
    mcp: { resourceUrl },
    signIn: {
      clientId: e.DASHBOARD_CLIENT_ID,
      clientSecret: e.DASHBOARD_CLIENT_SECRET,
      redirectUri: `${publicUrl}/auth/callback`,
      sessionMaxAgeSeconds: e.SESSION_MAX_AGE_SECONDS,
    },
    idp: {
      port: e.EMBEDDED_IDP_PORT,
      investorPassword: e.INVESTOR_PASSWORD,
      cibaIntervalSeconds: e.CIBA_INTERVAL_SECONDS,
      cibaMaxExpirySeconds: e.CIBA_MAX_EXPIRY_SECONDS,
      oboTokenTtlSeconds: e.OBO_TOKEN_TTL_SECONDS,
      maxPendingPerClientAndUser: e.MAX_PENDING_APPROVALS,
      testClient: e.IDP_TEST_CLIENT,
    },
    store: { databaseUrl: e.DATABASE_URL, dataDir: e.DATA_DIR },
    instance: { id: e.INSTANCE_ID, leaseCheckMs: e.LEASE_CHECK_MS },
    model: modelSettings(e),
    mail: { smtpUrl: e.SMTP_URL, from: e.SMTP_FROM },
  };
}

/**
 * What depends on the identity server: the issuer the MCP server trusts, its keys, the audience it
 * requires, the binding rule, and the WSO2 / Auth0 settings. Each real provider needs only its
 * base URL or domain; AUTH_ISSUER, AUTH_JWKS_URI and MCP_AUDIENCE override the derived values.
 */
function tenantSettings(e: Env, source: Record<string, string | undefined>, publicUrl: string, resourceUrl: string) {
  const problems: string[] = [];
  const secretNeeded = e.AGENT_ENABLED;
  let result: Pick<AppConfig["auth"], "issuer" | "issuerDiscovery" | "jwksUri" | "audience" | "binding" | "caFile"> & {
    agentId: string;
    wso2?: AppConfig["wso2"];
    auth0?: AppConfig["auth0"];
  };
  switch (e.AUTH_PROVIDER) {
    case "embedded": {
      const issuer = (e.AUTH_ISSUER ?? `${publicUrl}/oidc`).replace(/\/+$/, "");
      result = { issuer, jwksUri: e.AUTH_JWKS_URI ?? `${issuer}/jwks`, audience: e.MCP_AUDIENCE ?? resourceUrl, binding: "rar", agentId: e.AGENT_ID };
      break;
    }
    case "wso2": {
      // The issuer of WSO2 Identity Server / Asgardeo is usually `{base}/oauth2/token`; accept it
      // in place of the base URL too.
      const base = (e.WSO2_BASE_URL ?? e.AUTH_ISSUER?.replace(/\/oauth2\/token\/?$/, ""))?.replace(/\/+$/, "");
      if (!base) problems.push("WSO2_BASE_URL: required when AUTH_PROVIDER is wso2 (AUTH_ISSUER, AUTH_JWKS_URI and every endpoint derive from it), e.g. https://localhost:9443");
      else if (!isHttpsOrLoopback(base)) problems.push("WSO2_BASE_URL: must be https (plain http only on localhost)");
      if (secretNeeded && !e.AGENT_CLIENT_SECRET) problems.push("AGENT_CLIENT_SECRET: required when AUTH_PROVIDER is wso2 (the application's client secret)");
      if (secretNeeded && !e.WSO2_AGENT_SECRET) problems.push("WSO2_AGENT_SECRET: required when AUTH_PROVIDER is wso2 (the agent identity's secret; its id is AGENT_ID)");
      result = {
        // AUTH_ISSUER overrides what the server's discovery document (served below the token
        // endpoint's path) names, for the agent and the MCP server alike.
        issuer: e.AUTH_ISSUER ?? `${base}/oauth2/token`,
        issuerDiscovery: e.AUTH_ISSUER ? undefined : `${base}/oauth2/token/.well-known/openid-configuration`,
        jwksUri: e.AUTH_JWKS_URI ?? `${base}/oauth2/jwks`,
        // WSO2 puts the application's client id into `aud`.
        audience: e.MCP_AUDIENCE ?? e.AGENT_CLIENT_ID,
        // WSO2's CIBA endpoint builds its request from login_hint, scope, binding_message,
        // requested_expiry and notification_channel only: the order cannot travel in the token.
        binding: "recorded-approval",
        caFile: e.WSO2_CA_FILE,
        agentId: e.AGENT_ID,
        wso2: {
          baseUrl: base ?? "",
          agentSecret: e.WSO2_AGENT_SECRET,
          redirectUri: e.WSO2_REDIRECT_URI ?? `${publicUrl}/callback`,
          notificationChannel: e.WSO2_NOTIFICATION_CHANNEL,
        },
      };
      break;
    }
    case "auth0": {
      const origin = auth0Origin(e.AUTH0_DOMAIN);
      if (!e.AUTH0_DOMAIN) problems.push("AUTH0_DOMAIN: required when AUTH_PROVIDER is auth0 (AUTH_ISSUER, AUTH_JWKS_URI and every endpoint derive from it), e.g. my-tenant.us.auth0.com");
      else if (!origin) problems.push("AUTH0_DOMAIN: must be a host name like my-tenant.us.auth0.com (https only; http only for localhost)");
      if (secretNeeded && !e.AGENT_CLIENT_SECRET) problems.push("AGENT_CLIENT_SECRET: required when AUTH_PROVIDER is auth0 (the application's client secret)");
      // Auth0 names the acting client in `azp`: the agent's identity is its client id.
      if (source.AGENT_ID?.trim() && e.AGENT_ID !== e.AGENT_CLIENT_ID) {
        problems.push("AGENT_ID: with AUTH_PROVIDER=auth0 the agent is its application (azp); leave AGENT_ID unset or set it to AGENT_CLIENT_ID");
      }
      result = {
        // Auth0's issuer ends with a slash; it is compared byte for byte.
        issuer: e.AUTH_ISSUER ?? `${origin}/`,
        jwksUri: e.AUTH_JWKS_URI ?? `${origin}/.well-known/jwks.json`,
        // The API identifier: the `audience` the agent asks for and the MCP server requires.
        audience: e.MCP_AUDIENCE ?? resourceUrl,
        binding: "rar",
        agentId: e.AGENT_CLIENT_ID,
        auth0: { origin: origin ?? "", rarType: e.AUTH0_RAR_TYPE, clientAuth: e.AUTH0_CLIENT_AUTH },
      };
      break;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return result;
}

/**
 * The agent's model. MODEL_PROVIDER names it; unset, it follows the settings present: a Gemini key
 * means Gemini, OPENAI_BASE_URL an OpenAI-compatible server, neither the built-in rules model.
 * Both present without MODEL_PROVIDER is refused rather than guessed. Problems name variables,
 * never their values: the keys are secrets.
 */
function modelSettings(e: Env): AppConfig["model"] {
  const problems: string[] = [];
  const provider: ModelProvider | undefined =
    e.MODEL_PROVIDER ?? (e.GOOGLE_GENERATIVE_AI_API_KEY && e.OPENAI_BASE_URL ? undefined : e.GOOGLE_GENERATIVE_AI_API_KEY ? "gemini" : e.OPENAI_BASE_URL ? "openai-compatible" : "rules");
  if (!provider) {
    problems.push("MODEL_PROVIDER: both GOOGLE_GENERATIVE_AI_API_KEY and OPENAI_BASE_URL are set; set MODEL_PROVIDER to gemini or openai-compatible to choose the agent's model");
  }
  if (e.OPENAI_BASE_URL) problems.push(...openaiBaseUrlProblems(e.OPENAI_BASE_URL, Boolean(e.OPENAI_API_KEY)));
  if (provider === "gemini" && !e.GOOGLE_GENERATIVE_AI_API_KEY) problems.push("GOOGLE_GENERATIVE_AI_API_KEY: required when MODEL_PROVIDER is gemini");
  if (provider === "openai-compatible") {
    if (!e.OPENAI_BASE_URL) problems.push("OPENAI_BASE_URL: required when MODEL_PROVIDER is openai-compatible, e.g. http://localhost:11434/v1 (Ollama)");
    if (!e.MODEL_NAME) problems.push("MODEL_NAME: required with an OpenAI-compatible server: the model id it serves, e.g. llama3.1:8b");
  }
  if (problems.length) throw new ConfigError(problems);
  switch (provider!) {
    case "gemini":
      return { provider: "gemini", name: e.MODEL_NAME ?? DEFAULT_GEMINI_MODEL, googleApiKey: e.GOOGLE_GENERATIVE_AI_API_KEY };
    case "openai-compatible":
      return { provider: "openai-compatible", name: e.MODEL_NAME!, openaiCompatible: { baseUrl: e.OPENAI_BASE_URL!.replace(/\/+$/, ""), apiKey: e.OPENAI_API_KEY } };
    case "rules":
      return { provider: "rules", name: "rules" };
  }
}

/**
 * An OpenAI-compatible base URL is the prefix of /chat/completions: http(s), no credentials (they
 * would be logged with the URL; OPENAI_API_KEY carries the key), no query or fragment. A key is
 * sent over TLS, or in plain http only to this machine.
 */
function openaiBaseUrlProblems(href: string, withKey: boolean): string[] {
  const url = new URL(href);
  if (url.protocol !== "http:" && url.protocol !== "https:") return ["OPENAI_BASE_URL: must be an http or https URL, e.g. http://localhost:11434/v1"];
  if (url.username || url.password) return ["OPENAI_BASE_URL: must not contain a user name or password; put the key in OPENAI_API_KEY"];
  if (url.search || url.hash) return ["OPENAI_BASE_URL: must not have a query or fragment; it is the prefix of /chat/completions, e.g. http://localhost:11434/v1"];
  if (withKey && !isHttpsOrLoopback(url.href)) return ["OPENAI_API_KEY: sent only over https (plain http only to localhost); make OPENAI_BASE_URL https"];
  return [];
}

/** `tenant.us.auth0.com` → `https://tenant.us.auth0.com`; a full URL is kept (http only for loopback). */
function auth0Origin(domain: string | undefined): string | undefined {
  if (!domain) return undefined;
  try {
    const url = new URL(/^[a-z]+:\/\//i.test(domain) ? domain : `https://${domain}`);
    if (!isHttpsOrLoopback(url.href) || url.pathname !== "/" || url.search || url.hash) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/** A real identity server is reached over TLS; plain http only on this machine (tests, a local server). */
function isHttpsOrLoopback(href: string): boolean {
  const url = new URL(href);
  return url.protocol === "https:" || isLoopbackHttp(url);
}

let cached: AppConfig | undefined;

/** The process-wide configuration, parsed on first use. */
export function getConfig(): AppConfig {
  cached ??= parseConfig();
  return cached;
}
