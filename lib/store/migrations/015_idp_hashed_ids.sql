-- The rows of oidc-provider's bearer artifacts (refresh tokens, codes, auth_req_ids, opaque
-- access tokens) are keyed by the SHA-256 of the value, base64url without padding, and hold no
-- `jti`: a copy of the store holds no token anyone could present (lib/idp/adapter.ts, hashedId).
UPDATE idp_models
   SET id = 'sha256:' || rtrim(translate(encode(sha256(convert_to(id, 'UTF8')), 'base64'), E'+/\n', '-_'), '='),
       payload = payload - 'jti'
 WHERE model IN ('AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials',
                 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest', 'PreAuthorizedCode')
   AND id NOT LIKE 'sha256:%';
