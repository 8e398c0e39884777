import { describe, expect, it } from "vitest";
import { ConfigError, configFor, findInvestor, parseConfig } from "@/lib/config";
import { agentKey } from "@/lib/agent/settings";

/** INVESTORS: the investors after the first. Bad entries first; each stops start-up naming the variable. */
describe("INVESTORS", () => {
  it.each([
    ["bob", "needs a name"],
    ["bob:Bob", "email"],
    ["bob:Bob:not-an-email", "email"],
    ["b ob:Bob:bob@example.com", "user id"],
    ["bob:Bob:bob@example.com,bob:Robert:robert@example.com", "listed twice"],
    ["bob:Bob:bob@example.com,rob:Robert:BOB@example.com", "listed twice"],
    ["alice:Alice again:alice2@example.com", "first investor"],
    ["al:Alice again:ALICE@example.com", "first investor"],
  ])("refuses %j (%s)", (value, problem) => {
    expect(() => parseConfig({ INVESTORS: value })).toThrow(ConfigError);
    expect(() => parseConfig({ INVESTORS: value })).toThrow(new RegExp(`INVESTORS: .*${problem}`));
  });

  it("defaults to Alice alone, the used-by path unchanged", () => {
    const config = parseConfig({});
    expect(config.investors).toEqual([config.investor]);
    expect(config.investor).toMatchObject({ userId: "alice", email: "alice@example.com", name: "Alice" });
  });

  it("adds each listed investor with the starting cash, an optional password, and finds only configured ones", () => {
    const config = parseConfig({ INVESTORS: " bob:Bob:bob@example.com , carol:Carol:carol@example.com:pw:with:colons ", INITIAL_BALANCE: "500.00" });
    expect(config.investors.map((i) => i.userId)).toEqual(["alice", "bob", "carol"]);
    expect(config.investors[1]).toEqual({ userId: "bob", name: "Bob", email: "bob@example.com", initialBalanceCents: 50000 });
    expect(config.investors[2]!.password).toBe("pw:with:colons");
    expect(findInvestor(config, "carol")?.name).toBe("Carol");
    expect(findInvestor(config, "mallory")).toBeUndefined();
    expect(findInvestor(config, undefined)).toBeUndefined();
  });

  it("gives each investor's agent its own key; the first keeps the agent's id", () => {
    const config = parseConfig({ INVESTORS: "bob:Bob:bob@example.com" });
    expect(agentKey(config)).toBe("aurelius");
    const bob = configFor(config, config.investors[1]!);
    expect(bob.investor.userId).toBe("bob");
    expect(bob.agent.id).toBe("aurelius");
    expect(agentKey(bob)).toBe("aurelius:bob");
    expect(configFor(config, config.investors[0]!)).toBe(config);
  });
});
