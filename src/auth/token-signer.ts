/**
 * HMAC token signing for the CLI `gentoken` command and for tests.
 */
import { CompactSign } from 'jose';

/** HMAC algorithms a token can be signed with. */
export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512';

/**
 * Signs `claims` exactly as given (no claim is added or changed) into a compact JWT with
 * header `{"alg": alg, "typ": "JWT"}`, using the UTF-8 bytes of `secret` as the key.
 */
export async function signHmacToken(
  secret: string,
  claims: Record<string, unknown>,
  alg: HmacAlgorithm = 'HS256',
): Promise<string> {
  if (secret === '') throw new Error('signHmacToken: empty secret');
  const payload = new TextEncoder().encode(JSON.stringify(claims));
  return new CompactSign(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}
