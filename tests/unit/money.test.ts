import { describe, expect, it } from "vitest";
import { formatMoney, formatUsd, parseMoney } from "@/lib/money";

describe("parseMoney", () => {
  it.each(["", "abc", "-1.00", "1.234", "1e3", "01.00", " 1 2", "NaN", "Infinity", "1,000.00", "."])("refuses %j", (text) => {
    expect(parseMoney(text)).toBeNull();
  });

  it.each([
    ["0", 0],
    ["150", 15000],
    ["150.5", 15050],
    ["150.05", 15005],
    ["5000.00", 500000],
    ["0.01", 1],
  ])("parses %j as %i cents", (text, cents) => {
    expect(parseMoney(text)).toBe(cents);
  });
});

describe("formatting", () => {
  it("formats cents as a two-place decimal without floats", () => {
    expect(formatMoney(13120)).toBe("131.20");
    expect(formatMoney(5)).toBe("0.05");
    expect(formatMoney(-524)).toBe("-5.24");
  });

  it("formats dollars for people", () => {
    expect(formatUsd(1234567)).toBe("$12,345.67");
    expect(formatUsd(-524)).toBe("-$5.24");
  });

  it("round-trips every cent value in a range", () => {
    for (let cents = 0; cents < 20000; cents += 7) expect(parseMoney(formatMoney(cents))).toBe(cents);
  });
});
