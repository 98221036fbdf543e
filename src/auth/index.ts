/**
 * Public face of auth/: JWT/JWKS verification of client tokens into core credentials, and
 * HMAC token signing for tools.
 */
export { JwtVerifier, checkTokenConfig } from './jwt-verifier.js';
export type { TokenConfig, JwtVerifierOptions } from './jwt-verifier.js';
export { signHmacToken } from './token-signer.js';
export type { HmacAlgorithm } from './token-signer.js';
export { TokenConfigError, JwksError } from './errors.js';
export type { JwksErrorCode } from './errors.js';
export { JWKS_CACHE_TTL_MS } from './jwks.js';
