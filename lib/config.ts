import { z } from "zod";
import { parseMoney } from "./money";

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

  EMBEDDED_IDP_PORT: port(0),
  INVESTOR_PASSWORD: optionalString,
  CIBA_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(60).default(2),
  CIBA_MAX_EXPIRY_SECONDS: z.coerce.number().int().min(10).max(3600).default(120),
  OBO_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  MAX_PENDING_APPROVALS: z.coerce.number().int().min(1).max(50).default(3),

  DATABASE_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default(".data"),

  GOOGLE_GENERATIVE_AI_API_KEY: optionalString,
  MODEL_NAME: z.string().min(1).default("gemini-2.5-flash"),

  SMTP_URL: optionalUrl,
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
  investor: { name: string; email: string; userId: string; initialBalanceCents: number };
  agent: { id: string; name: string };
  auth: {
    provider: Env["AUTH_PROVIDER"];
    /** The issuer the MCP server trusts (`iss`), and where it reads the signing keys. */
    issuer: string;
    jwksUri: string;
    /** The `aud` the MCP server requires: its resource URL, or the client id for WSO2. */
    audience: string;
    agentClientId: string;
    agentClientSecret?: string;
  };
  mcp: { resourceUrl: string };
  /** The embedded authorization server (AUTH_PROVIDER=embedded). */
  idp: {
    /** Internal loopback port; 0 picks a free one. The public face is PUBLIC_URL/oidc. */
    port: number;
    investorPassword?: string;
    cibaIntervalSeconds: number;
    cibaMaxExpirySeconds: number;
    oboTokenTtlSeconds: number;
    maxPendingPerUser: number;
  };
  store: { databaseUrl?: string; dataDir: string };
  model: { googleApiKey?: string; name: string };
  mail: { smtpUrl?: string };
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
  if (e.AUTH_PROVIDER !== "embedded" && !e.AUTH_ISSUER) {
    throw new ConfigError([`AUTH_ISSUER: required when AUTH_PROVIDER is ${e.AUTH_PROVIDER}`]);
  }
  const issuer = (e.AUTH_ISSUER ?? `${publicUrl}/oidc`).replace(/\/+$/, "");
  const resourceUrl = (e.MCP_RESOURCE_URL ?? `${publicUrl}/mcp`).replace(/\/+$/, "");
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
    investor: {
      name: e.INVESTOR_NAME,
      email: e.INVESTOR_EMAIL,
      userId: e.INVESTOR_USER_ID,
      initialBalanceCents: e.INITIAL_BALANCE,
    },
    agent: { id: e.AGENT_ID, name: e.AGENT_NAME },
    auth: {
      provider: e.AUTH_PROVIDER,
      issuer,
      jwksUri: e.AUTH_JWKS_URI ?? `${issuer}/jwks`,
      audience: e.MCP_AUDIENCE ?? resourceUrl,
      agentClientId: e.AGENT_CLIENT_ID,
      agentClientSecret: e.AGENT_CLIENT_SECRET,
    },
    mcp: { resourceUrl },
    idp: {
      port: e.EMBEDDED_IDP_PORT,
      investorPassword: e.INVESTOR_PASSWORD,
      cibaIntervalSeconds: e.CIBA_INTERVAL_SECONDS,
      cibaMaxExpirySeconds: e.CIBA_MAX_EXPIRY_SECONDS,
      oboTokenTtlSeconds: e.OBO_TOKEN_TTL_SECONDS,
      maxPendingPerUser: e.MAX_PENDING_APPROVALS,
    },
    store: { databaseUrl: e.DATABASE_URL, dataDir: e.DATA_DIR },
    model: { googleApiKey: e.GOOGLE_GENERATIVE_AI_API_KEY, name: e.MODEL_NAME },
    mail: { smtpUrl: e.SMTP_URL },
  };
}

let cached: AppConfig | undefined;

/** The process-wide configuration, parsed on first use. */
export function getConfig(): AppConfig {
  cached ??= parseConfig();
  return cached;
}
