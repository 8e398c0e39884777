import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "@/lib/config";
import { startEmbeddedIdp } from "@/lib/idp";
import { loadIdentitySecrets } from "@/lib/idp/identity-secrets";
import { useTestDb } from "../helpers/store";

/** The embedded server's development defaults: fenced in production, loud once, secret after. */
const db = useTestDb();
const announced = () => (globalThis as Record<symbol, Set<string>>)[Symbol.for("sg.devDefaults")]!;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("embedded authorization server as a development default", () => {
  it("refuses to start with NODE_ENV=production unless allowed", async () => {
    const config = parseConfig({ NODE_ENV: "production", DATA_DIR: "memory://" });
    await expect(startEmbeddedIdp({ config, db })).rejects.toThrow(/development default.*NODE_ENV=production/);
  });

  it("starts in production when ALLOW_DEV_DEFAULTS_IN_PRODUCTION=true", async () => {
    const config = parseConfig({ NODE_ENV: "production", ALLOW_DEV_DEFAULTS_IN_PRODUCTION: "true", DATA_DIR: "memory://" });
    const idp = await startEmbeddedIdp({ config, db });
    expect(idp.port).toBeGreaterThan(0);
    await idp.stop();
  });

  it("never prints the generated client secret; prints Alice's generated password once, when created", async () => {
    await db.query("DELETE FROM idp_secrets");
    const config = parseConfig({ NODE_ENV: "test", DATA_DIR: "memory://" });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    announced().clear();
    const first = await loadIdentitySecrets(config, db);
    const firstLog = warn.mock.calls.flat().join("\n");
    expect(first.agentClientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(firstLog).not.toContain(first.agentClientSecret);
    expect(firstLog).toMatch(/never printed/);
    expect(firstLog).toContain(first.investorPassword);
    expect(firstLog).toMatch(/development RS256 signing keys/);
    expect(JSON.stringify(first.signingKeys)).not.toBe("[]");

    warn.mockClear();
    announced().clear();
    const second = await loadIdentitySecrets(config, db);
    const secondLog = warn.mock.calls.flat().join("\n");
    expect(second).toEqual(first);
    expect(secondLog).not.toContain(first.agentClientSecret);
    expect(secondLog).not.toContain(first.investorPassword);
    expect(secondLog).toMatch(/INVESTOR_PASSWORD/);
    for (const key of second.signingKeys) expect(secondLog).not.toContain(String(key.d));
  });

  it("uses configured secrets without generating or printing them", async () => {
    await db.query("DELETE FROM idp_secrets");
    const config = parseConfig({
      NODE_ENV: "test",
      DATA_DIR: "memory://",
      AGENT_CLIENT_SECRET: "configured-secret-value-1",
      DASHBOARD_CLIENT_SECRET: "configured-dashboard-secret-1",
      INVESTOR_PASSWORD: "configured-password",
    });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    announced().clear();
    const secrets = await loadIdentitySecrets(config, db);
    expect(secrets).toMatchObject({ agentClientSecret: "configured-secret-value-1", dashboardClientSecret: "configured-dashboard-secret-1", investorPassword: "configured-password" });
    const log = warn.mock.calls.flat().join("\n");
    expect(log).not.toContain("configured-secret-value-1");
    expect(log).not.toContain("configured-dashboard-secret-1");
    expect(log).not.toContain("configured-password");
    const names = (await db.query<{ name: string }>("SELECT name FROM idp_secrets ORDER BY name")).map((r) => r.name);
    expect(names).toEqual(["cookie_key", "signing_keys"]);
  });
});
