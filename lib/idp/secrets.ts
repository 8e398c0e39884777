import "server-only";
import { randomBytes } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import type { Queryable } from "../store/db";

/**
 * Development secrets the embedded server generates on first run and keeps in the store (never in
 * the repository): its signing keys, its cookie key, and — when the environment sets none — the
 * agent's client secret and Alice's password. `created` tells the caller whether to announce a
 * freshly generated value (once) or only that a stored one is in use.
 */
export interface Stored<T> {
  value: T;
  created: boolean;
}

export async function loadOrCreateSecret<T>(db: Queryable, name: string, create: () => T | Promise<T>): Promise<Stored<T>> {
  const existing = await db.query<{ value: T }>("SELECT value FROM idp_secrets WHERE name = $1", [name]);
  if (existing[0]) return { value: existing[0].value, created: false };
  const value = await create();
  // Another process may have created it in between: the first one wins, everyone uses that.
  const inserted = await db.query<{ value: T }>(
    "INSERT INTO idp_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value",
    [name, JSON.stringify(value)],
  );
  if (inserted[0]) return { value: inserted[0].value, created: true };
  const winner = await db.query<{ value: T }>("SELECT value FROM idp_secrets WHERE name = $1", [name]);
  return { value: winner[0]!.value, created: false };
}

/** 256 random bits, base64url: client secrets and HMAC keys. */
export function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}

const PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

/** A password a person can type: four groups of four from an unambiguous alphabet (~79 bits). */
export function randomPassword(): string {
  const bytes = randomBytes(16);
  const chars = [...bytes].map((b) => PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]!);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join("")).join("-");
}

/** An RS256 signing key as a private JWK with `kid` (its RFC 7638 thumbprint), `alg` and `use`. */
export async function generateSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: "RS256", use: "sig" };
}

/** The public half of a private JWK: what the JWKS endpoint and local verification use. */
export function publicJwk(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
  return pub;
}
