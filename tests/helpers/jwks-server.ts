import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from "jose";

/**
 * A stand-in authorization server for MCP tests: a key pair generated per run, its JWKS served
 * from a loopback HTTP server, and helpers that mint access tokens (good ones and every kind of
 * bad one) the way the embedded server, WSO2 and Auth0 would.
 */
/** The claims of the agent's own token (client credentials): no user, stock:read only. */
export const AGENT_CLAIMS = Object.freeze({ sub: "aurelius", scope: "openid stock:read", client_id: "aurelius-agent" });

export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  /** A signed access token; `claims` override the defaults (sub alice, scope openid stock:read). */
  mint(claims?: JWTPayload, options?: MintOptions): Promise<string>;
  /** Signed by a key that is not in the JWKS (same kid format). */
  mintWithForeignKey(claims?: JWTPayload): Promise<string>;
  /** `alg: none`, no signature. */
  mintUnsigned(claims?: JWTPayload): string;
  /** HS256 with the public key's PEM as the HMAC secret (the classic key-confusion attack). */
  mintHs256WithPublicKey(claims?: JWTPayload): Promise<string>;
  /** A valid token whose payload was edited after signing. */
  tamper(token: string, patch: JWTPayload): string;
  /** The default `aud` of minted tokens (the app's URL is known only once it has started). */
  setAudience(audience: string): void;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  close(): Promise<void>;
}

export interface MintOptions {
  audience?: string | string[] | null;
  issuer?: string;
  /** Seconds from now; negative for an expired token; null for no exp at all. */
  expiresIn?: number | null;
  typ?: string;
  alg?: "ES256" | "RS256";
}

export async function startTestIssuer(defaults: { audience: string } = { audience: "urn:unset" }): Promise<TestIssuer> {
  const es = await generateKeyPair("ES256", { extractable: true });
  const rs = await generateKeyPair("RS256", { extractable: true });
  const foreign = await generateKeyPair("ES256", { extractable: true });
  const keys: Record<string, { privateKey: CryptoKey; kid: string }> = {
    ES256: { privateKey: es.privateKey, kid: `es-${randomBytes(4).toString("hex")}` },
    RS256: { privateKey: rs.privateKey, kid: `rs-${randomBytes(4).toString("hex")}` },
  };
  const jwks = {
    keys: [
      { ...(await exportJWK(es.publicKey)), kid: keys.ES256!.kid, alg: "ES256", use: "sig" },
      { ...(await exportJWK(rs.publicKey)), kid: keys.RS256!.kid, alg: "RS256", use: "sig" },
    ] as JWK[],
  };
  const rsPem = await exportSPKI(rs.publicKey);

  let fetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url === "/jwks") {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(jwks));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/issuer`;

  const sign = async (key: CryptoKey, kid: string, alg: string, claims: JWTPayload, o: MintOptions = {}) => {
    let jwt = new SignJWT({ sub: "alice", scope: "openid stock:read", jti: randomBytes(12).toString("hex"), ...claims })
      .setProtectedHeader({ alg, kid, typ: o.typ ?? "at+jwt" })
      .setIssuedAt()
      .setIssuer(o.issuer ?? issuer);
    const aud = o.audience === undefined ? defaults.audience : o.audience;
    if (aud !== null) jwt = jwt.setAudience(aud);
    if (o.expiresIn !== null) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 300));
    return jwt.sign(key);
  };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = () => Math.floor(Date.now() / 1000);

  return {
    issuer,
    jwksUri: `${base}/jwks`,
    mint: (claims = {}, o = {}) => {
      const alg = o.alg ?? "ES256";
      return sign(keys[alg]!.privateKey, keys[alg]!.kid, alg, claims, o);
    },
    mintWithForeignKey: (claims = {}) => sign(foreign.privateKey, keys.ES256!.kid, "ES256", claims),
    mintUnsigned: (claims = {}) =>
      `${b64({ alg: "none", typ: "at+jwt" })}.${b64({
        sub: "alice",
        scope: "openid stock:read stock:trade",
        iss: issuer,
        aud: defaults.audience,
        iat: now(),
        exp: now() + 300,
        ...claims,
      })}.`,
    mintHs256WithPublicKey: (claims = {}) =>
      new SignJWT({ sub: "alice", scope: "openid stock:read stock:trade", ...claims })
        .setProtectedHeader({ alg: "HS256", kid: keys.RS256!.kid, typ: "at+jwt" })
        .setIssuedAt()
        .setIssuer(issuer)
        .setAudience(defaults.audience)
        .setExpirationTime(now() + 300)
        .sign(new TextEncoder().encode(rsPem)),
    tamper: (token, patch) => {
      const [header, payload, signature] = token.split(".");
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as JWTPayload;
      return `${header}.${b64({ ...claims, ...patch })}.${signature}`;
    },
    setAudience: (audience) => {
      defaults.audience = audience;
    },
    jwksFetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
