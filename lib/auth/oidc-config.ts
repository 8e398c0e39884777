import "server-only";
import * as client from "openid-client";
import { isLoopbackHost } from "../net/loopback";
import type { FetchLike } from "./app-fetch";

/**
 * The openid-client Configuration for one of the app's clients (the agent's, the dashboard's):
 * discovered once from the issuer (OpenID Connect Discovery, which also validates that the
 * document names the same issuer), retried on the next use when discovery failed (the server may
 * still be starting: the embedded one answers through this very process).
 *
 * ID tokens in token responses are verified: openid-client always checks their claims (OpenID
 * Connect Core §3.1.3.7: iss, aud, azp, exp, iat) and, with enableNonRepudiationChecks, their
 * signature against the issuer's `jwks_uri` and the `alg` it advertises. The CIBA grant needs
 * scope openid (CIBA Core §7.1), so every approval answers with one: an ID token signed by any
 * other key, or unsigned, makes the whole token response unusable.
 */
export interface ClientSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** How the client authenticates at the token endpoint; HTTP Basic unless said otherwise. */
  clientAuth?: "client_secret_basic" | "client_secret_post";
  fetch: FetchLike;
  /** Seconds before openid-client gives up on one request. */
  timeoutSeconds?: number;
  /**
   * Allow a plain-HTTP issuer. Always for loopback; otherwise only for the embedded server (a
   * fenced development default). A real identity server is reached over HTTPS only.
   */
  allowHttp?: boolean;
}

export function createConfigurationLoader(settings: ClientSettings): () => Promise<client.Configuration> {
  let pending: Promise<client.Configuration> | undefined;
  return () => {
    pending ??= discover(settings).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

async function discover({ issuer, clientId, clientSecret, clientAuth, fetch, timeoutSeconds = 10, allowHttp = false }: ClientSettings): Promise<client.Configuration> {
  const url = new URL(issuer);
  const authentication = clientAuth === "client_secret_post" ? client.ClientSecretPost(clientSecret) : client.ClientSecretBasic(clientSecret);
  const configuration = await client.discovery(url, clientId, { client_secret: clientSecret }, authentication, {
    execute: [
      ...(url.protocol === "http:" && (allowHttp || isLoopbackHost(url.hostname)) ? [client.allowInsecureRequests] : []),
      client.enableNonRepudiationChecks,
    ],
    [client.customFetch]: fetch as client.CustomFetch,
    timeout: timeoutSeconds,
  });
  configuration[client.customFetch] = fetch as client.CustomFetch;
  configuration.timeout = timeoutSeconds;
  return configuration;
}
