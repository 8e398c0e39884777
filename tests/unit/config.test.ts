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

describe(".env.example", () => {
  const lines = fs.readFileSync(path.resolve(__dirname, "..", "..", ".env.example"), "utf8").split("\n");

  it.each(ENV_VARIABLES)("documents %s with a comment above it", (name) => {
    const index = lines.findIndex((line) => new RegExp(`^#? ?${name}=`).test(line));
    expect(index, `${name} is missing from .env.example`).toBeGreaterThan(0);
    expect(lines[index - 1]!.startsWith("#")).toBe(true);
  });
});
