import "server-only";
import fs from "node:fs";
import tls from "node:tls";
import type { Dispatcher } from "undici";
import type { FetchLike } from "./fetch";

/**
 * Trusting an identity server with a private certificate (WSO2 Identity Server on
 * https://localhost:9443 ships a self-signed one) WITHOUT switching verification off: requests to
 * it go through an undici dispatcher whose trust store is the public CAs plus the PEM file given
 * in WSO2_CA_FILE. Hostname and chain are still verified. Used by the agent's identity-server
 * profile and by the MCP server's JWKS fetch, so both trust the same server the same way.
 *
 * Node's built-in fetch accepts an undici `dispatcher`; the dispatcher is created once per file.
 */
const dispatchers = new Map<string, Promise<Dispatcher>>();

/** The dispatcher trusting `caFile` in addition to the public CAs; fails loudly on a bad file. */
export function caDispatcher(caFile: string): Promise<Dispatcher> {
  let dispatcher = dispatchers.get(caFile);
  if (!dispatcher) {
    dispatcher = createDispatcher(caFile);
    dispatchers.set(caFile, dispatcher);
    dispatcher.catch(() => dispatchers.delete(caFile));
  }
  return dispatcher;
}

async function createDispatcher(caFile: string): Promise<Dispatcher> {
  const pem = readCaFile(caFile);
  const { Agent } = await import("undici");
  return new Agent({ connect: { ca: [...tls.rootCertificates, pem] } });
}

/** Reads and sanity-checks the PEM file; the message names the file, never its content. */
export function readCaFile(caFile: string): string {
  let pem: string;
  try {
    pem = fs.readFileSync(caFile, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unreadable";
    throw new Error(`WSO2_CA_FILE ${caFile} cannot be read (${code})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error(`WSO2_CA_FILE ${caFile} holds no PEM certificate`);
  return pem;
}

/** `base` with every request sent through the CA file's dispatcher; `base` itself when no file is set. */
export function withCaFile(base: FetchLike, caFile: string | undefined): FetchLike {
  if (!caFile) return base;
  return async (input, init) => base(input, { ...init, dispatcher: await caDispatcher(caFile) } as RequestInit);
}
