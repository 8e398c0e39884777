/**
 * Money is integer cents everywhere inside the app; strings like "150.00" only at the edges.
 * Binary floats never hold an amount (0.1 + 0.2 !== 0.3 is not a trading bug we want).
 */

/** A non-negative decimal amount with at most two places: "131.20", "5000", "0.5". */
export const MONEY_PATTERN = /^(0|[1-9]\d{0,12})(\.\d{1,2})?$/;

/** Parses "150", "150.5" or "150.00" into cents; returns null for anything else. */
export function parseMoney(text: string): number | null {
  const match = MONEY_PATTERN.exec(text.trim());
  if (!match) return null;
  const whole = Number(match[1]);
  const fraction = Number((match[2]?.slice(1) ?? "").padEnd(2, "0"));
  return whole * 100 + fraction;
}

/** Formats cents as a plain decimal string with two places: 15000 → "150.00". */
export function formatMoney(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(cents));
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** Formats cents for people: 1234567 → "$12,345.67". */
export function formatUsd(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(cents));
  const whole = Math.floor(abs / 100).toLocaleString("en-US");
  return `${sign}$${whole}.${String(abs % 100).padStart(2, "0")}`;
}
