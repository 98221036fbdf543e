import type { GyreConfig } from './types.js';

/**
 * The warning for a configuration in which no client connection can succeed: connections
 * need a token (not insecure, no connect proxy, no anonymous access, no user ID header, token
 * signatures checked) but no HMAC secret, public key or JWKS endpoint is set to verify one.
 * Undefined when connections can be authenticated.
 */
export function connectionAuthWarning(config: GyreConfig): string | undefined {
  const c = config.client;
  const t = c.token;
  const withoutToken =
    c.insecure ||
    c.proxy.connect.enabled ||
    c.allow_anonymous_connect_without_token ||
    c.user_id_http_header !== '' ||
    c.insecure_skip_token_signature_verify;
  const key =
    t.hmac_secret_key !== '' ||
    t.hmac_previous_secret_key !== '' ||
    t.rsa_public_key !== '' ||
    t.ecdsa_public_key !== '' ||
    t.jwks_public_endpoint !== '';
  if (withoutToken || key) return undefined;
  return (
    'connections need a token but no token key is set (client.token.hmac_secret_key, rsa_public_key, ' +
    'ecdsa_public_key or jwks_public_endpoint), nor client.insecure, client.proxy.connect, ' +
    'client.allow_anonymous_connect_without_token or client.user_id_http_header: every client connection will be refused'
  );
}
