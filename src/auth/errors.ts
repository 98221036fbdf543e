/**
 * Errors of the auth folder other than TokenError (which lives in core ports because the
 * core branches on it). Callers branch on `code`, never on message text.
 */

/** A token config block that cannot work: thrown at construction or by `ready()`. */
export class TokenConfigError extends Error {
  readonly code = 'token_config_invalid';

  constructor(
    /** Config path of the offending key, e.g. `client.token.audience_regex`. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
    this.name = 'TokenConfigError';
  }
}

/** Why a JWKS key could not be obtained; carried as the `cause` of an invalid TokenError. */
export type JwksErrorCode =
  | 'jwks_kid_missing'
  | 'jwks_url_unsafe'
  | 'jwks_fetch_failed'
  | 'jwks_bad_response'
  | 'jwks_key_not_found'
  | 'jwks_key_unusable';

/** A JWKS lookup failure. The verifier maps every one of them to an invalid token, as the reference does. */
export class JwksError extends Error {
  constructor(
    readonly code: JwksErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JwksError';
  }
}
