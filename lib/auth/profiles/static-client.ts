import "server-only";
import * as client from "openid-client";
import { isLoopbackHttp } from "../../net/loopback";
import type { FetchLike } from "../app-fetch";

/**
 * An openid-client Configuration built from endpoints we already know, without a discovery round
 * trip: WSO2 and Auth0 document fixed paths below their base URL / domain. `npm run doctor`
 * checks the discovery document against the same values, so a mismatch is reported before the
 * app runs rather than hidden by it.
 *
 * ID tokens are verified against `jwksUri` (enableNonRepudiationChecks; see ../oidc-config.ts).
 * With no `id_token_signing_alg_values_supported` in this metadata, openid-client expects RS256, the
 * default of both servers (WSO2 signs with the tenant's RSA key; Auth0's default JSON Web Token
 * Signature Algorithm is RS256; an HS256-signed ID token is refused).
 */
export interface StaticClientSettings {
  issuer: string;
  tokenEndpoint: string;
  backchannelEndpoint: string;
  jwksUri: string;
  clientId: string;
  clientSecret: string;
  /** RFC 6749 §2.3.1: HTTP Basic (WSO2's CIBA endpoint requires it) or the form body. */
  clientAuth: "client_secret_basic" | "client_secret_post";
  fetch: FetchLike;
  timeoutSeconds?: number;
}

export function createStaticConfiguration(s: StaticClientSettings): client.Configuration {
  const configuration = new client.Configuration(
    {
      issuer: s.issuer,
      token_endpoint: s.tokenEndpoint,
      backchannel_authentication_endpoint: s.backchannelEndpoint,
      jwks_uri: s.jwksUri,
    },
    s.clientId,
    { client_secret: s.clientSecret },
    s.clientAuth === "client_secret_basic" ? client.ClientSecretBasic(s.clientSecret) : client.ClientSecretPost(s.clientSecret),
  );
  configuration[client.customFetch] = s.fetch as client.CustomFetch;
  configuration.timeout = s.timeoutSeconds ?? 10;
  // Plain http only for a server on this machine (a local server or a test fake); lib/config.ts
  // refuses any other http URL before we get here.
  if (isLoopbackHttp(s.tokenEndpoint)) client.allowInsecureRequests(configuration);
  client.enableNonRepudiationChecks(configuration);
  return configuration;
}
