import { randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/**
 * What the identity-server fakes (wso2-fake.ts, auth0-fake.ts) share: a loopback HTTP(S) server
 * that records every request field by field, a signing key generated per run with its JWKS, and
 * the small pieces of HTTP both servers speak (form bodies, HTTP Basic client authentication, JSON
 * answers). No network beyond 127.0.0.1.
 */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string's parameters (one value per name). */
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Parsed application/x-www-form-urlencoded body (one value per name). */
  form?: Record<string, string>;
  /** Names that appeared more than once in the form (CIBA forbids repeated parameters). */
  repeated?: string[];
  /** Parsed JSON body. */
  json?: unknown;
  /** Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1 decoding). */
  basic?: { id: string; secret: string };
  at: number;
}

export interface FakeServer {
  origin: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Handler = (req: RecordedRequest, res: http.ServerResponse) => void | Promise<void>;

export async function startFakeServer(handler: Handler, tlsOptions?: { key: string; cert: string }): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded = record(req, Buffer.concat(chunks).toString("utf8"));
      requests.push(recorded);
      Promise.resolve(handler(recorded, res)).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: "server_error", error_description: String(error) });
      });
    });
  };
  const server = tlsOptions ? https.createServer(tlsOptions, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `${tlsOptions ? "https" : "http"}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function record(req: http.IncomingMessage, body: string): RecordedRequest {
  const url = new URL(req.url ?? "/", "http://fake");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers[name] = value;
  const recorded: RecordedRequest = { method: req.method ?? "GET", path: url.pathname, query: Object.fromEntries(url.searchParams), headers, at: Date.now() };
  const type = headers["content-type"] ?? "";
  if (type.startsWith("application/x-www-form-urlencoded")) {
    const params = new URLSearchParams(body);
    const form: Record<string, string> = {};
    const repeated = new Set<string>();
    for (const [name, value] of params) {
      if (name in form) repeated.add(name);
      form[name] = value;
    }
    recorded.form = form;
    if (repeated.size) recorded.repeated = [...repeated];
  } else if (type.startsWith("application/json") && body) {
    try {
      recorded.json = JSON.parse(body);
    } catch {
      recorded.json = undefined;
    }
  }
  const auth = headers.authorization;
  if (auth?.startsWith("Basic ")) {
    const decoded = Buffer.from(auth.slice(6), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      const form = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
      recorded.basic = { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
    }
  }
  return recorded;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

/** A per-run RSA signing key (both servers sign with RS256) and its public JWKS. */
export interface SigningKey {
  kid: string;
  jwks: { keys: JWK[] };
  sign(payload: JWTPayload, typ?: string): Promise<string>;
}

export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = randomBytes(8).toString("hex");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } as JWK;
  return {
    kid,
    jwks: { keys: [jwk] },
    sign: (payload, typ = "JWT") => new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid, typ }).sign(privateKey as CryptoKey),
  };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * A DPoP proof on a token request (RFC 9449 §4.3), checked the way a server's own rules say; each
 * fake passes its server's rules. Returns the key's RFC 7638 thumbprint (the `cnf.jkt` to bind),
 * or why the proof is refused.
 */
export interface TokenProofRules {
  /** The token endpoint URL as the server compares `htu` (case-insensitively, no normalisation). */
  htu: string;
  htm: string;
  /** Key types the server can verify (`kty`). */
  keyTypes: string[];
  /** How old `iat` may be, in seconds. */
  maxAgeSeconds: number;
  /** Whether an `iat` in the future is refused too. */
  refuseFutureIat: boolean;
}

export async function checkTokenRequestProof(proof: string, rules: TokenProofRules): Promise<{ jkt: string } | { refused: string }> {
  if (proof.includes(",")) return { refused: "Request contains multiple DPoP headers." };
  let header;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    return { refused: "Invalid DPoP Proof" };
  }
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || "d" in jwk || typeof header.alg !== "string" || String(header.typ).toLowerCase() !== "dpop+jwt" || !rules.keyTypes.includes(String(jwk.kty))) {
    return { refused: "Invalid DPoP Proof" };
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK));
  } catch {
    return { refused: "Invalid DPoP Proof" };
  }
  const { jti, htm, htu, iat } = payload as Record<string, unknown>;
  if (typeof iat !== "number") return { refused: "Invalid DPoP Proof" };
  const age = nowSeconds() - iat;
  if (age > rules.maxAgeSeconds || (rules.refuseFutureIat && -age > rules.maxAgeSeconds)) return { refused: "Expired DPoP Proof" };
  if (typeof jti !== "string" || typeof htm !== "string" || typeof htu !== "string") return { refused: "Invalid DPoP Proof" };
  if (htm.toUpperCase() !== rules.htm.toUpperCase() || htu.toLowerCase() !== rules.htu.toLowerCase()) return { refused: "Invalid DPoP Proof" };
  return { jkt: await calculateJwkThumbprint(jwk, "sha256") };
}
export const randomId = (bytes = 16) => randomBytes(bytes).toString("hex");

/** Polls `check` until it returns a value (not undefined); fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
