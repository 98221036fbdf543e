/**
 * Statically configured verification keys: HMAC secrets (current and previous) and PEM
 * public keys (SPKI or X.509 certificate) for RSA and ECDSA, imported per algorithm.
 */
import { compactVerify, importSPKI, importX509, type CryptoKey } from 'jose';
import { TokenConfigError } from './errors.js';

export const HMAC_ALGS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);
export const RSA_ALGS: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512']);
export const ECDSA_ALGS: ReadonlySet<string> = new Set(['ES256', 'ES384', 'ES512']);

/** Why a static-key verification did not succeed. */
export type StaticVerifyOutcome = 'ok' | 'unsupported' | 'disabled' | 'bad_signature';

export interface StaticKeysConfig {
  hmacSecretKey: string;
  hmacPreviousSecretKey: string;
  /** Unix seconds; 0 = the previous secret never stops being accepted. */
  hmacPreviousSecretKeyValidUntil: number;
  rsaPublicKeyPem: string;
  ecdsaPublicKeyPem: string;
}

/**
 * Verifies compact JWS with the configured static keys, picking the key by the header alg.
 * A PEM key that does not fit an alg of its family (say, a P-256 key for ES384) leaves that
 * alg disabled.
 */
export class StaticKeys {
  private readonly hmac?: Uint8Array<ArrayBuffer>;
  private readonly hmacPrevious?: Uint8Array<ArrayBuffer>;
  private readonly rsa?: PemKey;
  private readonly ecdsa?: PemKey;
  /** HMAC secrets imported once per (secret, alg): verifying with a CryptoKey skips a per-call import. */
  private readonly hmacKeys = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly cfg: StaticKeysConfig,
    /** Config path of the block, for error messages. */
    path: string,
  ) {
    const utf8 = new TextEncoder();
    if (cfg.hmacSecretKey !== '') this.hmac = utf8.encode(cfg.hmacSecretKey);
    if (cfg.hmacPreviousSecretKey !== '') this.hmacPrevious = utf8.encode(cfg.hmacPreviousSecretKey);
    if (cfg.rsaPublicKeyPem !== '') this.rsa = new PemKey(cfg.rsaPublicKeyPem, RSA_ALGS, `${path}.rsa_public_key`);
    if (cfg.ecdsaPublicKeyPem !== '') this.ecdsa = new PemKey(cfg.ecdsaPublicKeyPem, ECDSA_ALGS, `${path}.ecdsa_public_key`);
  }

  /**
   * Resolves when the PEM keys import for at least one algorithm of their family; rejects
   * with TokenConfigError otherwise.
   */
  async ready(): Promise<void> {
    await this.rsa?.ready();
    await this.ecdsa?.ready();
  }

  /**
   * Verifies the token signature for `alg`. The previous HMAC secret is tried when the
   * current key does not verify and `nowMs` is not past its valid-until time.
   */
  async verify(token: string, alg: string, nowMs: number): Promise<StaticVerifyOutcome> {
    const outcome = await this.verifyCurrent(token, alg);
    if (outcome === 'ok' || this.hmacPrevious === undefined || !HMAC_ALGS.has(alg)) return outcome;
    const until = this.cfg.hmacPreviousSecretKeyValidUntil;
    if (until > 0 && Math.floor(nowMs / 1000) > until) return outcome;
    return (await verifyWith(token, await this.hmacKey('previous', this.hmacPrevious, alg), alg)) ? 'ok' : outcome;
  }

  private hmacKey(which: 'current' | 'previous', secret: Uint8Array<ArrayBuffer>, alg: string): Promise<CryptoKey> {
    const id = `${which}:${alg}`;
    let key = this.hmacKeys.get(id);
    if (key === undefined) {
      const hash = `SHA-${alg.slice(2)}`;
      key = crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash }, false, ['verify']);
      this.hmacKeys.set(id, key);
    }
    return key;
  }

  private async verifyCurrent(token: string, alg: string): Promise<StaticVerifyOutcome> {
    let key: CryptoKey | Uint8Array | undefined;
    if (HMAC_ALGS.has(alg)) key = this.hmac === undefined ? undefined : await this.hmacKey('current', this.hmac, alg);
    else if (RSA_ALGS.has(alg)) key = await this.rsa?.keyFor(alg);
    else if (ECDSA_ALGS.has(alg)) key = await this.ecdsa?.keyFor(alg);
    else return 'unsupported';
    if (key === undefined) return 'disabled';
    return (await verifyWith(token, key, alg)) ? 'ok' : 'bad_signature';
  }
}

async function verifyWith(token: string, key: CryptoKey | Uint8Array, alg: string): Promise<boolean> {
  try {
    await compactVerify(token, key, { algorithms: [alg] });
    return true;
  } catch {
    return false;
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;

/** One PEM public key, imported lazily per algorithm; undefined marks an alg the key cannot serve. */
class PemKey {
  private readonly byAlg = new Map<string, Promise<CryptoKey | undefined>>();
  private readonly isCertificate: boolean;
  private readonly pem: string;

  constructor(
    raw: string,
    private readonly family: ReadonlySet<string>,
    private readonly path: string,
  ) {
    // Like the reference, only the first PEM block counts and its label does not matter:
    // the body is tried as SPKI unless it is labelled as a certificate.
    const block = PEM_BLOCK.exec(raw);
    if (!block) throw new TokenConfigError(path, 'key must be PEM encoded');
    this.isCertificate = block[1] === 'CERTIFICATE';
    const label = this.isCertificate ? 'CERTIFICATE' : 'PUBLIC KEY';
    const body = (block[2] ?? '').replace(/\s+/g, '');
    const lines = body.match(/.{1,64}/g) ?? [];
    this.pem = `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----`;
  }

  keyFor(alg: string): Promise<CryptoKey | undefined> {
    let key = this.byAlg.get(alg);
    if (key === undefined) {
      const importing = this.isCertificate ? importX509(this.pem, alg) : importSPKI(this.pem, alg);
      key = importing.then(
        (k) => (usable(k) ? k : undefined),
        () => undefined,
      );
      this.byAlg.set(alg, key);
    }
    return key;
  }

  async ready(): Promise<void> {
    const keys = await Promise.all([...this.family].map((alg) => this.keyFor(alg)));
    if (keys.every((k) => k === undefined)) {
      const which = [...this.family].join('/');
      throw new TokenConfigError(this.path, `not a usable public key for ${which} (RSA keys need at least 2048 bits)`);
    }
  }
}

/** jose refuses RSA keys under 2048 bits at verification; treat them as unusable up front. */
function usable(key: CryptoKey): boolean {
  const algorithm = key.algorithm as { modulusLength?: number };
  return algorithm.modulusLength === undefined || algorithm.modulusLength >= 2048;
}
