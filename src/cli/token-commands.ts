import { SignJWT } from 'jose';
import { compileGoRegex, formatDuration, type GyreConfig, type TokenConfig } from '../config/index.js';
import { loadForCommand } from './config-commands.js';
import { errorMessage, type Output } from './output.js';

/** Options shared by gentoken and gensubtoken. */
export interface GenTokenOptions {
  configPath: string;
  user: string;
  /** Lifetime in seconds; <= 0 gives a token without `exp`. */
  ttl: number;
  quiet: boolean;
  /** gensubtoken only. */
  channel?: string;
}

/** Signs an HS256 JWT with `sub`, `iat`, optional `exp` and extra claims. */
export async function signHs256(
  secret: string,
  opts: { user: string; ttl: number; userIdClaim?: string; extra?: Record<string, unknown>; now?: number },
): Promise<string> {
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = { sub: opts.user, ...opts.extra, iat };
  if (opts.ttl > 0) claims.exp = iat + opts.ttl;
  if (opts.userIdClaim !== undefined && opts.userIdClaim !== '') claims[opts.userIdClaim] = opts.user;
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

function describe(user: string, ttl: number): { who: string; exp: string } {
  return {
    who: user === '' ? 'anonymous user' : `user "${user}"`,
    exp: ttl > 0 ? `with expiration TTL ${formatDuration(ttl * 1000)}` : 'without expiration',
  };
}

/** The token block subscription tokens use: subscription_token when enabled, else token. */
export function subscriptionTokenBlock(config: GyreConfig): TokenConfig {
  return config.client.subscription_token.enabled ? config.client.subscription_token : config.client.token;
}

/** `gentoken`: a sample HS256 connection token signed with client.token.hmac_secret_key. */
export async function genToken(out: Output, opts: GenTokenOptions): Promise<number> {
  const loaded = loadForCommand(out, opts.configPath, 'error getting config');
  if (loaded === undefined) return 1;
  const block = loaded.config.client.token;
  if (block.hmac_secret_key === '') {
    out.out(
      'error: gentoken only supports generating HMAC-signed tokens, but no HMAC secret key is set in the configuration (client.token.hmac_secret_key)\n',
    );
    return 1;
  }
  const token = await signHs256(block.hmac_secret_key, { user: opts.user, ttl: opts.ttl, userIdClaim: block.user_id_claim });
  if (opts.quiet) {
    out.out(token);
    return 0;
  }
  const { who, exp } = describe(opts.user, opts.ttl);
  out.out(`HMAC SHA-256 JWT for ${who} ${exp}:\n${token}\n`);
  return 0;
}

/** `gensubtoken`: a sample HS256 subscription token for `channel`. */
export async function genSubToken(out: Output, opts: GenTokenOptions): Promise<number> {
  const loaded = loadForCommand(out, opts.configPath, 'error getting config');
  if (loaded === undefined) return 1;
  const channel = opts.channel ?? '';
  if (channel === '') {
    out.out('channel is required\n');
    return 1;
  }
  const block = subscriptionTokenBlock(loaded.config);
  if (block.hmac_secret_key === '') {
    out.out(
      'error: gensubtoken only supports generating HMAC-signed tokens, but no HMAC secret key is set in the configuration (client.subscription_token.hmac_secret_key, or client.token.hmac_secret_key when subscription token is not separately configured)\n',
    );
    return 1;
  }
  const token = await signHs256(block.hmac_secret_key, {
    user: opts.user,
    ttl: opts.ttl,
    userIdClaim: block.user_id_claim,
    extra: { channel },
  });
  if (opts.quiet) {
    out.out(token);
    return 0;
  }
  const { who, exp } = describe(opts.user, opts.ttl);
  out.out(`HMAC SHA-256 JWT for ${who} and channel "${channel}" ${exp}:\n${token}\n`);
  return 0;
}

function decodePart(part: string | undefined): string {
  if (part === undefined || part === '') throw new Error('invalid token: malformed JWT');
  return Buffer.from(part, 'base64url').toString('utf8');
}

/** Header `alg` and raw claims JSON of a compact JWT, without verifying it. */
export function inspectToken(token: string): { alg: string; claims: string } {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('invalid token: malformed JWT');
  const header = JSON.parse(decodePart(parts[0])) as { alg?: unknown };
  const claims = decodePart(parts[1]);
  JSON.parse(claims);
  return { alg: String(header.alg ?? ''), claims };
}

type Verifier = InstanceType<typeof import('../auth/index.js').JwtVerifier>;

async function makeVerifier(config: GyreConfig): Promise<Verifier> {
  // Loaded lazily so the other commands keep working whatever state auth/ is in.
  const { JwtVerifier } = await import('../auth/index.js');
  const sub = config.client.subscription_token.enabled ? config.client.subscription_token : undefined;
  return new JwtVerifier(config.client.token, sub, {
    skipSignatureVerify: config.client.insecure_skip_token_signature_verify,
    compileRegex: compileGoRegex,
  });
}

/** `checktoken` / `checksubtoken`: verifies a token with the configured verifier. */
export async function checkToken(out: Output, configPath: string, token: string | undefined, kind: 'connect' | 'subscribe'): Promise<number> {
  const loaded = loadForCommand(out, configPath, 'error getting config');
  if (loaded === undefined) return 1;
  const command = kind === 'connect' ? 'checktoken' : 'checksubtoken';
  if (token === undefined || token === '') {
    out.out(`error: provide token to check [gyre ${command} <TOKEN>]\n`);
    return 1;
  }
  let info: { alg: string; claims: string };
  try {
    info = inspectToken(token);
  } catch (err) {
    out.out(`error: ${errorMessage(err)}\n`);
    return 1;
  }
  let verifier: Verifier;
  try {
    verifier = await makeVerifier(loaded.config);
  } catch (err) {
    out.out(`error: ${errorMessage(err)}\n`);
    return 1;
  }
  try {
    if (kind === 'connect') {
      const res = await verifier.verifyConnectToken(token);
      const who = res.userId === '' ? 'anonymous user' : `user ${res.userId}`;
      out.out(`valid token for ${who}\npayload: ${info.claims}\n`);
    } else {
      const res = await verifier.verifySubscribeToken(token);
      const who = res.userId === '' ? 'anonymous user' : `user "${res.userId}"`;
      out.out(`valid subscription token for ${who} and channel "${res.channel}"\npayload: ${info.claims}\n`);
    }
    return 0;
  } catch (err) {
    out.out(`error: token with algorithm ${info.alg} and claims ${info.claims} has error: ${errorMessage(err)}\n`);
    return 1;
  }
}
