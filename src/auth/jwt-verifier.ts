/**
 * JWT verification of connection and subscription tokens (server.md §3.1–3.5): parse,
 * issuer/audience regex capture, signature (static keys or JWKS), audience/issuer, lifetime,
 * then the claims of each token kind mapped to core credentials.
 */
import { compactVerify, decodeJwt, decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import type { CompilePattern, ConnectCredentials, PatternMatcher, SubscribeCredentials, TokenVerifier } from '../core/index.js';
import {
  audiences,
  checkLifetime,
  checkRegisteredClaims,
  connectCredentials,
  invalidToken,
  optionalString,
  subscribeCredentials,
  type Claims,
} from './claims.js';
import { TokenConfigError } from './errors.js';
import { charClassProblem, literalGroups } from './go-regex.js';
import { JwksClient, templatePlaceholders } from './jwks.js';
import { StaticKeys } from './static-keys.js';

/**
 * One token config block (`client.token` or `client.subscription_token`), keys as in the
 * config file. Absent strings mean "", absent numbers 0, absent booleans false.
 */
export interface TokenConfig {
  /** Enables HS256/HS384/HS512. */
  hmac_secret_key?: string;
  /** Old HMAC secret still accepted while rotating. */
  hmac_previous_secret_key?: string;
  /** Unix seconds after which the previous secret is refused; 0 = never refused. */
  hmac_previous_secret_key_valid_until?: number;
  /** PEM (SPKI or X.509 certificate); enables RS256/RS384/RS512. */
  rsa_public_key?: string;
  /** PEM (SPKI or X.509 certificate); enables ES256/ES384/ES512 as the curve allows. */
  ecdsa_public_key?: string;
  /** http(s) URL, `{{name}}` placeholders allowed; when set the static keys above are ignored. */
  jwks_public_endpoint?: string;
  /** Required `aud` value (exact). */
  audience?: string;
  /** Go regex some `aud` entry must match; named groups fill JWKS URL placeholders. */
  audience_regex?: string;
  /** Required `iss` value (exact). */
  issuer?: string;
  /** Go regex `iss` must match; named groups fill JWKS URL placeholders. */
  issuer_regex?: string;
  /** Top-level claim holding the user ID instead of `sub`; `^[a-zA-Z_]+$`. */
  user_id_claim?: string;
  /** Skip the JWKS URL template safety check (insecure; the caller should warn loudly). */
  insecure_skip_jwks_endpoint_safety_check?: boolean;
}

export interface JwtVerifierOptions {
  /** Skip step 4 (signature) only; claims are still checked. `client.insecure_skip_token_signature_verify`. */
  skipSignatureVerify?: boolean;
  /** Time source, Unix ms. */
  now?: () => number;
  /**
   * Compiles issuer_regex / audience_regex, which are Go (RE2) patterns: the server passes the
   * config's one Go-regex compiler. An error it throws becomes a TokenConfigError naming the key.
   */
  compileRegex: CompilePattern;
}

/**
 * Verifies tokens against a connection config block and, when given, a separate
 * subscription block. Throws TokenError (`expired` for exp/nbf, `invalid` for everything
 * else, the cause attached). Construction throws TokenConfigError for a config that cannot
 * work; `ready()` additionally proves the PEM keys import.
 */
export class JwtVerifier implements TokenVerifier {
  private readonly connection: TokenBlock;
  private readonly subscription: TokenBlock;
  private readonly skipSignature: boolean;
  private readonly now: () => number;

  constructor(connection: TokenConfig, subscription: TokenConfig | undefined, opts: JwtVerifierOptions) {
    this.now = opts.now ?? Date.now;
    this.skipSignature = opts.skipSignatureVerify ?? false;
    this.connection = new TokenBlock(connection, 'client.token', this.now, opts.compileRegex);
    this.subscription =
      subscription === undefined
        ? this.connection
        : new TokenBlock(subscription, 'client.subscription_token', this.now, opts.compileRegex);
  }

  /** Resolves once every configured PEM key is importable; rejects with TokenConfigError. */
  async ready(): Promise<void> {
    await this.connection.ready();
    if (this.subscription !== this.connection) await this.subscription.ready();
  }

  async verifyConnectToken(token: string): Promise<ConnectCredentials> {
    const nowMs = this.now();
    const claims = await this.connection.check(token, this.skipSignature, nowMs);
    // A subscription token must not pass as a connection token.
    const channel = optionalString(claims, 'channel');
    if (channel !== undefined && channel !== '') throw invalidToken('connection token must not contain a channel claim');
    checkLifetime(claims, nowMs);
    return connectCredentials(claims, this.connection.userIdClaim);
  }

  async verifySubscribeToken(token: string): Promise<SubscribeCredentials> {
    const nowMs = this.now();
    const claims = await this.subscription.check(token, this.skipSignature, nowMs);
    checkLifetime(claims, nowMs);
    return subscribeCredentials(claims, this.subscription.userIdClaim);
  }
}

/**
 * Validates one token config block as startup and `checkconfig` need it: the synchronous
 * checks of construction plus key imports. Rejects with TokenConfigError naming the key.
 */
export async function checkTokenConfig(
  config: TokenConfig,
  compileRegex: CompilePattern,
  path = 'client.token',
): Promise<void> {
  await new TokenBlock(config, path, Date.now, compileRegex).ready();
}

const USER_ID_CLAIM = /^[a-zA-Z_]+$/;
/**
 * Longest iss / aud value matched against issuer_regex / audience_regex; a longer one does not
 * match. The injected compiler matches in linear time; the cap also bounds that linear work
 * per token, which the regexes may do before the signature is checked (templated JWKS URL).
 */
export const MAX_REGEX_CLAIM_LENGTH = 1024;
const JWKS_ALGS: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);

/** One compiled config block: runs steps 1–5 of the pipeline. */
class TokenBlock {
  readonly userIdClaim: string;
  private readonly audience: string;
  private readonly issuer: string;
  private readonly audienceRe?: PatternMatcher;
  private readonly issuerRe?: PatternMatcher;
  private readonly jwks?: JwksClient;
  private readonly keys?: StaticKeys;
  /** The JWKS URL has `{{name}}` placeholders filled from issuer_regex / audience_regex groups. */
  private readonly templated: boolean = false;

  constructor(cfg: TokenConfig, path: string, now: () => number, compileRegex: CompilePattern) {
    const read = settingReader(cfg, path);
    this.audience = read.string('audience');
    this.issuer = read.string('issuer');
    this.userIdClaim = read.string('user_id_claim');
    const audienceRegex = read.string('audience_regex');
    const issuerRegex = read.string('issuer_regex');
    if (this.audience !== '' && audienceRegex !== '') {
      throw new TokenConfigError(`${path}.audience_regex`, 'cannot be used together with audience');
    }
    if (this.issuer !== '' && issuerRegex !== '') {
      throw new TokenConfigError(`${path}.issuer_regex`, 'cannot be used together with issuer');
    }
    if (audienceRegex !== '') this.audienceRe = compileSetting(audienceRegex, `${path}.audience_regex`, compileRegex);
    if (issuerRegex !== '') this.issuerRe = compileSetting(issuerRegex, `${path}.issuer_regex`, compileRegex);
    if (this.userIdClaim !== '' && !USER_ID_CLAIM.test(this.userIdClaim)) {
      throw new TokenConfigError(`${path}.user_id_claim`, 'must match ^[a-zA-Z_]+$');
    }

    const endpoint = read.string('jwks_public_endpoint');
    if (endpoint !== '') {
      if (!/^https?:\/\//i.test(endpoint)) {
        throw new TokenConfigError(`${path}.jwks_public_endpoint`, 'must be an http:// or https:// URL');
      }
      if (!read.boolean('insecure_skip_jwks_endpoint_safety_check')) {
        checkEndpointSafety(endpoint, [
          [`${path}.issuer_regex`, issuerRegex],
          [`${path}.audience_regex`, audienceRegex],
        ]);
      }
      this.jwks = new JwksClient(endpoint, { nowMs: now });
      this.templated = templatePlaceholders(endpoint).length > 0;
    } else {
      this.keys = new StaticKeys(
        {
          hmacSecretKey: read.string('hmac_secret_key'),
          hmacPreviousSecretKey: read.string('hmac_previous_secret_key'),
          hmacPreviousSecretKeyValidUntil: read.number('hmac_previous_secret_key_valid_until'),
          rsaPublicKeyPem: read.string('rsa_public_key'),
          ecdsaPublicKeyPem: read.string('ecdsa_public_key'),
        },
        path,
      );
    }
  }

  async ready(): Promise<void> {
    await this.keys?.ready();
  }

  /**
   * Steps 1–5: parse, signature (unless skipped), regex capture, audience and issuer; the
   * regex capture comes before the signature when a templated JWKS URL needs its groups.
   */
  async check(token: string, skipSignature: boolean, nowMs: number): Promise<Claims> {
    const { header, claims } = parse(token);
    let vars: Map<string, string>;
    if (this.templated) {
      // The JWKS URL needs the captured groups, so the regexes meet the unverified claims.
      vars = this.captureVars(claims);
      if (!skipSignature) await this.verifySignature(token, header, vars, nowMs);
    } else {
      // Otherwise only a correctly signed token reaches the regexes.
      if (!skipSignature) await this.verifySignature(token, header, new Map(), nowMs);
      vars = this.captureVars(claims);
    }
    if (this.audience !== '' && !audiences(claims).includes(this.audience)) throw invalidToken('audience mismatch');
    if (this.issuer !== '' && claims.iss !== this.issuer) throw invalidToken('issuer mismatch');
    return claims;
  }

  /** Matches iss/aud against the regexes; named groups become JWKS URL variables. */
  private captureVars(claims: Claims): Map<string, string> {
    const vars = new Map<string, string>();
    if (this.issuerRe !== undefined) {
      const iss = typeof claims.iss === 'string' ? claims.iss : '';
      const groups = iss.length <= MAX_REGEX_CLAIM_LENGTH ? this.issuerRe.groups(iss) : undefined;
      if (groups === undefined) throw invalidToken('issuer does not match issuer_regex');
      addGroups(vars, groups);
    }
    if (this.audienceRe !== undefined) {
      let matched = false;
      for (const aud of audiences(claims)) {
        if (aud.length > MAX_REGEX_CLAIM_LENGTH) continue;
        const groups = this.audienceRe.groups(aud);
        if (groups === undefined) continue;
        addGroups(vars, groups);
        matched = true;
        break;
      }
      if (!matched) throw invalidToken('audience does not match audience_regex');
    }
    return vars;
  }

  private async verifySignature(
    token: string,
    header: ProtectedHeaderParameters,
    vars: ReadonlyMap<string, string>,
    nowMs: number,
  ): Promise<void> {
    const alg = header.alg;
    if (typeof alg !== 'string' || alg === '') throw invalidToken('token header has no alg');
    if (this.jwks !== undefined) {
      if (!JWKS_ALGS.has(alg)) throw invalidToken(`unsupported JWT algorithm ${alg}`);
      const kid = header.kid;
      if (kid !== undefined && typeof kid !== 'string') throw invalidToken('token header kid must be a string');
      let key: Awaited<ReturnType<JwksClient['keyFor']>>;
      try {
        key = await this.jwks.keyFor(this.jwks.resolveUrl(vars), kid, alg);
      } catch (err) {
        throw invalidToken('no JWKS key for token', err);
      }
      try {
        await compactVerify(token, key, { algorithms: [alg] });
      } catch (err) {
        throw invalidToken('bad token signature', err);
      }
      return;
    }
    const outcome = await (this.keys as StaticKeys).verify(token, alg, nowMs);
    if (outcome === 'unsupported') throw invalidToken(`unsupported JWT algorithm ${alg}`);
    if (outcome === 'disabled') throw invalidToken(`disabled JWT algorithm ${alg}`);
    if (outcome === 'bad_signature') throw invalidToken('bad token signature');
  }
}

/** Step 1–2: a compact JWS with a JSON-object payload whose registered claims have the right types. */
function parse(token: string): { header: ProtectedHeaderParameters; claims: Claims } {
  if (typeof token !== 'string' || token.split('.').length !== 3) throw invalidToken('malformed token');
  let header: ProtectedHeaderParameters;
  let claims: Claims;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token) as Claims;
  } catch (err) {
    throw invalidToken('malformed token', err);
  }
  checkRegisteredClaims(claims);
  return { header, claims };
}

function addGroups(vars: Map<string, string>, groups: Record<string, string>): void {
  for (const [name, value] of Object.entries(groups)) vars.set(name, value);
}

function compileSetting(source: string, path: string, compile: CompilePattern): PatternMatcher {
  try {
    return compile(source);
  } catch (err) {
    throw new TokenConfigError(path, `invalid regex: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A templated JWKS URL takes its variables from unverified claims, so every named group it
 * uses must be a plain alternation of literals, and the regexes supplying them may hold no
 * character classes.
 */
function checkEndpointSafety(endpoint: string, regexes: Array<[path: string, source: string]>): void {
  const placeholders = new Set(templatePlaceholders(endpoint));
  if (placeholders.size === 0) return;
  for (const [path, source] of regexes) {
    if (source === '') continue;
    const problem = charClassProblem(source);
    if (problem !== undefined) {
      throw new TokenConfigError(path, `${problem}, not allowed when jwks_public_endpoint is templated; list the allowed values (a|b|c)`);
    }
    for (const [name, literal] of literalGroups(source)) {
      if (placeholders.has(name) && !literal) {
        throw new TokenConfigError(path, `named group ${name} is used in jwks_public_endpoint and must be an explicit list of allowed values (a|b|c)`);
      }
    }
  }
}

/** Typed reads of optional config keys; a value of the wrong type is a config error. */
function settingReader(cfg: TokenConfig, path: string) {
  const raw = cfg as Record<string, unknown>;
  const fail = (key: string, type: string): never => {
    throw new TokenConfigError(`${path}.${key}`, `must be a ${type}`);
  };
  return {
    string(key: keyof TokenConfig): string {
      const v = raw[key];
      return v == null ? '' : typeof v === 'string' ? v : fail(key, 'string');
    },
    number(key: keyof TokenConfig): number {
      const v = raw[key];
      return v == null ? 0 : typeof v === 'number' && Number.isFinite(v) ? v : fail(key, 'number');
    },
    boolean(key: keyof TokenConfig): boolean {
      const v = raw[key];
      return v == null ? false : typeof v === 'boolean' ? v : fail(key, 'boolean');
    },
  };
}
