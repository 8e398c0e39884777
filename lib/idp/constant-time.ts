import "server-only";
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Compares two secrets (passwords, CSRF tokens) in time that does not depend on where they differ.
 * Both sides are hashed first so that their lengths do not leak either: timingSafeEqual needs equal
 * lengths, and an early `length !==` return would tell an attacker the length of the secret
 * (the same idea as node-oidc-provider's helpers/constant_equals.js).
 */
export function constantTimeEqual(actual: string, expected: string): boolean {
  const a = createHash("sha256").update(actual, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}
