import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { ConfigError, ENV_VARIABLES, parseConfig } from "@/lib/config";

describe("parseConfig", () => {
  it("works with an empty environment (the embedded defaults)", () => {
    const config = parseConfig({});
    expect(config.market).toEqual({ symbol: "NVDA", initialPriceCents: 15000, tickMs: 1000 });
    expect(config.mandate.thresholdCents).toBe(14000);
    expect(config.mandate.tradeAmountCents).toBe(500000);
    expect(config.investor.initialBalanceCents).toBe(1000000);
    expect(config.auth.provider).toBe("embedded");
    expect(config.publicUrl).toBe("http://localhost:3000");
    expect(config.auth.issuer).toBe("http://localhost:3000/oidc");
    expect(config.mcp.resourceUrl).toBe("http://localhost:3000/mcp");
    expect(config.auth.audience).toBe("http://localhost:3000/mcp");
    expect(config.store.databaseUrl).toBeUndefined();
  });

  it("follows PORT and PUBLIC_URL", () => {
    expect(parseConfig({ PORT: "4000" }).auth.issuer).toBe("http://localhost:4000/oidc");
    expect(parseConfig({ PUBLIC_URL: "https://demo.example.com/" }).mcp.resourceUrl).toBe("https://demo.example.com/mcp");
  });

  it.each([
    [{ INITIAL_PRICE: "abc" }, "INITIAL_PRICE"],
    [{ INITIAL_PRICE: "-5" }, "INITIAL_PRICE"],
    [{ PRICE_THRESHOLD: "1.234" }, "PRICE_THRESHOLD"],
    [{ TRADE_AMOUNT: "0" }, "TRADE_AMOUNT"],
    [{ STOCK_SYMBOL: "nvda" }, "STOCK_SYMBOL"],
    [{ AUTH_PROVIDER: "okta" }, "AUTH_PROVIDER"],
    [{ PORT: "99999" }, "PORT"],
    [{ INVESTOR_EMAIL: "not-an-email" }, "INVESTOR_EMAIL"],
    [{ DATABASE_URL: "nope" }, "DATABASE_URL"],
    [{ AUTH_PROVIDER: "wso2" }, "AUTH_ISSUER"],
  ])("stops on %j naming the variable", (env, name) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    try {
      parseConfig(env);
    } catch (error) {
      expect((error as ConfigError).problems.join("\n")).toContain(name);
    }
  });
});

describe("the agent's model", () => {
  const KEY = "sk-secret-value-never-shown-0123";
  const problemsOf = (env: Record<string, string>): string => {
    try {
      parseConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems.join("\n");
    }
    throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
  };

  it("follows the settings present: none → rules, a Gemini key → gemini, OPENAI_BASE_URL → openai-compatible", () => {
    expect(parseConfig({}).model).toEqual({ provider: "rules", name: "rules" });
    expect(parseConfig({ GOOGLE_GENERATIVE_AI_API_KEY: KEY }).model).toEqual({ provider: "gemini", name: "gemini-2.5-flash", googleApiKey: KEY });
    expect(parseConfig({ OPENAI_BASE_URL: "http://localhost:11434/v1/", MODEL_NAME: "llama3.1:8b" }).model).toEqual({
      provider: "openai-compatible",
      name: "llama3.1:8b",
      openaiCompatible: { baseUrl: "http://localhost:11434/v1", apiKey: undefined },
    });
  });

  it("refuses a Gemini key and OPENAI_BASE_URL together unless MODEL_PROVIDER chooses, naming no value", () => {
    const both = { GOOGLE_GENERATIVE_AI_API_KEY: KEY, OPENAI_BASE_URL: "http://localhost:11434/v1", MODEL_NAME: "llama3.1" };
    const problems = problemsOf(both);
    expect(problems).toMatch(/^MODEL_PROVIDER: both GOOGLE_GENERATIVE_AI_API_KEY and OPENAI_BASE_URL are set/);
    expect(problems).not.toContain(KEY);
    expect(parseConfig({ ...both, MODEL_PROVIDER: "gemini" }).model).toMatchObject({ provider: "gemini", name: "llama3.1", googleApiKey: KEY });
    expect(parseConfig({ ...both, MODEL_PROVIDER: "openai-compatible" }).model).toMatchObject({ provider: "openai-compatible", name: "llama3.1" });
    expect(parseConfig({ ...both, MODEL_PROVIDER: "rules" }).model).toEqual({ provider: "rules", name: "rules" });
    // An empty MODEL_PROVIDER= (as .env.example leaves it) chooses nothing.
    expect(problemsOf({ ...both, MODEL_PROVIDER: "" })).toMatch(/^MODEL_PROVIDER: both/);
  });

  it.each([
    [{ MODEL_PROVIDER: "openai" }, /^MODEL_PROVIDER must be one of gemini, openai-compatible, rules$/],
    [{ MODEL_PROVIDER: "gemini" }, /^GOOGLE_GENERATIVE_AI_API_KEY: required when MODEL_PROVIDER is gemini$/],
    [{ MODEL_PROVIDER: "openai-compatible", MODEL_NAME: "llama3.1" }, /^OPENAI_BASE_URL: required when MODEL_PROVIDER is openai-compatible/],
    [{ OPENAI_BASE_URL: "http://localhost:11434/v1" }, /^MODEL_NAME: required with an OpenAI-compatible server/],
    [{ OPENAI_BASE_URL: "localhost:11434", MODEL_NAME: "m" }, /^OPENAI_BASE_URL: must be an http or https URL/],
    [{ OPENAI_BASE_URL: "not a url", MODEL_NAME: "m" }, /^OPENAI_BASE_URL: /],
    [{ OPENAI_BASE_URL: "ftp://localhost/v1", MODEL_NAME: "m" }, /^OPENAI_BASE_URL: must be an http or https URL/],
    [{ OPENAI_BASE_URL: `http://user:${KEY}@localhost:11434/v1`, MODEL_NAME: "m" }, /^OPENAI_BASE_URL: must not contain a user name or password/],
    [{ OPENAI_BASE_URL: "http://localhost:11434/v1?key=x", MODEL_NAME: "m" }, /^OPENAI_BASE_URL: must not have a query or fragment/],
    [{ OPENAI_BASE_URL: "http://gpu-box.lan:8000/v1", MODEL_NAME: "m", OPENAI_API_KEY: KEY }, /^OPENAI_API_KEY: sent only over https/],
    [{ OPENAI_BASE_URL: "http://localhost:11434/v1", MODEL_NAME: "llama 3.1" }, /^MODEL_NAME must be a model id without spaces/],
  ])("stops on %j with a clear message that shows no secret", (env, message) => {
    const problems = problemsOf(env as Record<string, string>);
    expect(problems).toMatch(message);
    expect(problems).not.toContain(KEY);
  });

  it("accepts an API key over https, or over plain http to this machine", () => {
    expect(parseConfig({ OPENAI_BASE_URL: "https://models.example.com/v1", MODEL_NAME: "m", OPENAI_API_KEY: KEY }).model.openaiCompatible).toEqual({ baseUrl: "https://models.example.com/v1", apiKey: KEY });
    expect(parseConfig({ OPENAI_BASE_URL: "http://127.0.0.1:1234/v1", MODEL_NAME: "m", OPENAI_API_KEY: KEY }).model.openaiCompatible?.apiKey).toBe(KEY);
    // Without a key, a model server elsewhere on the network may be plain http.
    expect(parseConfig({ OPENAI_BASE_URL: "http://gpu-box.lan:8000/v1", MODEL_NAME: "Qwen/Qwen2.5-7B-Instruct" }).model.name).toBe("Qwen/Qwen2.5-7B-Instruct");
  });
});

describe(".env.example", () => {
  const lines = fs.readFileSync(path.resolve(__dirname, "..", "..", ".env.example"), "utf8").split("\n");

  it.each(ENV_VARIABLES)("documents %s with a comment above it", (name) => {
    const index = lines.findIndex((line) => new RegExp(`^#? ?${name}=`).test(line));
    expect(index, `${name} is missing from .env.example`).toBeGreaterThan(0);
    expect(lines[index - 1]!.startsWith("#")).toBe(true);
  });
});
