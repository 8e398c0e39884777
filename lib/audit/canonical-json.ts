/**
 * JSON Canonicalization Scheme (RFC 8785): the one serialization of a JSON value that every
 * implementation agrees on, so that a hash over it can be recomputed anywhere.
 *
 * - objects: members sorted by their names as arrays of UTF-16 code units (§3.2.3), which is what
 *   JavaScript's default string comparison does; no whitespace;
 * - strings: JSON.stringify's escaping, which is the ECMAScript serialization §3.2.2.2 names;
 *   lone surrogates are not I-JSON (RFC 7493) and are refused;
 * - numbers: the ECMAScript Number-to-String of §3.2.2.3, which JSON.stringify applies; NaN and
 *   the infinities have no JSON form and are refused;
 * - true, false, null as literals. `undefined` members are left out, as JSON.stringify does;
 *   anything else (bigint, functions, symbols, dates) is refused rather than guessed at.
 */
export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`JCS: ${value} has no JSON form`);
      return JSON.stringify(value);
    case "string":
      return canonicalString(value);
    case "object":
      break;
    default:
      throw new TypeError(`JCS: a ${typeof value} has no JSON form`);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalize(v))).join(",")}]`;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new TypeError("JCS: only plain objects, arrays and JSON scalars");
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort(compareCodeUnits)
    .map((k) => `${canonicalString(k)}:${canonicalize(record[k])}`);
  return `{${members.join(",")}}`;
}

/** Compares by UTF-16 code units, not code points or locale (RFC 8785 §3.2.3). */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function canonicalString(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new TypeError("JCS: a string with a lone surrogate is not I-JSON");
  return JSON.stringify(s);
}
