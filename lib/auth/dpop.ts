import "server-only";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import * as client from "openid-client";

/**
 * The agent's DPoP key (RFC 9449): an ES256 key pair generated in memory when the agent first
 * asks for a token, never persisted, exported or logged. The private key is a non-extractable
 * WebCrypto key (RFC 9449 §11.1): not even this process can read its bytes, only sign with it.
 * A restart makes a new key, and the tokens bound to the old one die with it.
 *
 * ES256 because every server here accepts it: oidc-provider's default
 * `dpop_signing_alg_values_supported` is ES256, Ed25519, EdDSA; WSO2's DPoP connector verifies
 * EC and RSA keys only (identity-oauth-dpop, OauthDPoPInterceptorHandlerProxy/DPoPHeaderValidator);
 * Auth0 documents Elliptic Curve keys such as ES256.
 *
 * Token requests carry proofs made by openid-client from the same key pair (`dpopHandle`); the MCP
 * client signs its per-request proofs for /mcp with it (lib/agent/mcp-client.ts).
 */
export const DPOP_ALG = "ES256";

export interface DPoPKey {
  readonly alg: typeof DPOP_ALG;
  /** Signs proofs; non-extractable. */
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as the proofs' `jwk` header carries it (RFC 9449 §4.2). */
  readonly publicJwk: JWK;
  /** RFC 7638 SHA-256 thumbprint: the `cnf.jkt` of every token bound to this key (RFC 9449 §6.1). */
  readonly thumbprint: string;
}

export async function generateDPoPKey(): Promise<DPoPKey> {
  const { privateKey, publicKey } = await generateKeyPair(DPOP_ALG, { extractable: false });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const publicJwk: JWK = { kty, crv, x, y };
  return Object.freeze({ alg: DPOP_ALG, privateKey, publicKey, publicJwk, thumbprint: await calculateJwkThumbprint(publicJwk, "sha256") });
}

/**
 * One key per profile, made on first use (the first token request); concurrent callers share it.
 * `handleFor` gives openid-client's DPoP handle for a Configuration (it signs the token-request
 * proofs and remembers a server's DPoP-Nonce, RFC 9449 §8), one per Configuration.
 */
export interface DPoPKeySource {
  key(): Promise<DPoPKey>;
  handleFor(configuration: client.Configuration): Promise<{ key: DPoPKey; handle: client.DPoPHandle }>;
}

export function createDPoPKeySource(generate: () => Promise<DPoPKey> = generateDPoPKey): DPoPKeySource {
  let pending: Promise<DPoPKey> | undefined;
  const handles = new WeakMap<client.Configuration, client.DPoPHandle>();
  const key = () => {
    pending ??= generate().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
  return {
    key,
    async handleFor(configuration) {
      const k = await key();
      let handle = handles.get(configuration);
      if (!handle) {
        handle = client.getDPoPHandle(configuration, { privateKey: k.privateKey, publicKey: k.publicKey });
        handles.set(configuration, handle);
      }
      return { key: k, handle };
    },
  };
}
