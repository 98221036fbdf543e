/**
 * JWKS client: resolves the (possibly templated) endpoint URL, fetches key sets, caches
 * signing keys per (resolved URL, kid) and imports them for one token algorithm.
 */
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { JwksError } from './errors.js';

/** How long a fetched key stays usable without refetching. */
export const JWKS_CACHE_TTL_MS = 60 * 60 * 1000;
/** Default minimum time between two fetches of one JWKS URL caused by a kid missing from the cache. */
export const JWKS_MIN_REFETCH_INTERVAL_MS = 5_000;
/** Default time a kid that a fetched set did not contain is refused without fetching. */
export const JWKS_UNKNOWN_KID_TTL_MS = 60_000;
/** Longest kid looked up; a longer one is refused without a fetch, so the caches hold only short keys. */
export const JWKS_MAX_KID_LENGTH = 1024;
/** Default bound of the unknown-kid cache and of the per-URL fetch records (oldest dropped first). */
export const JWKS_MAX_TRACKED = 1000;

export interface JwksClientOptions {
  /** Time source in Unix ms (cache expiry). */
  nowMs?: () => number;
  ttlMs?: number;
  /** Per-attempt timeout of the GET, body included. */
  timeoutMs?: number;
  /** Total GET attempts per fetch (the reference makes 2). */
  attempts?: number;
  /** A larger response body is refused. */
  maxBodyBytes?: number;
  /**
   * Minimum time between fetches of one URL for kids the cache does not hold (unknown or
   * expired); a miss inside it is refused without a fetch. 0 = every miss fetches.
   */
  minRefetchIntervalMs?: number;
  /** How long a kid absent from a fetched set is refused without fetching. 0 = not remembered. */
  unknownKidTtlMs?: number;
  /** Entries kept in the unknown-kid cache and in the per-URL fetch records. */
  maxTracked?: number;
}

/** The last fetch of one URL, which gates the next one. */
interface UrlFetch {
  startedAtMs: number;
  /** Set while the fetch runs: misses for the same URL wait for it instead of fetching. */
  running?: Promise<void>;
  /** The failure of the last fetch, repeated to misses until the next fetch is allowed. */
  error?: unknown;
}

interface CachedKey {
  jwk: JWK;
  expiresAtMs: number;
  /** Imported keys per token alg; a rejected import is dropped so it is retried. */
  imported: Map<string, Promise<CryptoKey | Uint8Array>>;
}

const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512']);
const EC_ALGS = new Set(['ES256', 'ES384', 'ES512']);
/** Cached entries beyond this count trigger a sweep of expired ones. */
const SWEEP_THRESHOLD = 1024;

/**
 * Fetches and caches JWKS signing keys. Only keys with `use: "sig"` and a `kid` are kept;
 * every such key of a fetched set is cached. Tokens cannot make it fetch at will: concurrent
 * misses on one URL share one fetch, a URL is fetched for missing kids at most once per
 * `minRefetchIntervalMs`, and a kid the fetched set lacked is refused without fetching for
 * `unknownKidTtlMs` (a bounded cache). A kid newly published at the endpoint is therefore
 * accepted at most `minRefetchIntervalMs` after it appears, or `unknownKidTtlMs` after a
 * token carried it before it was published. Holds no sockets between calls: nothing to close.
 */
export class JwksClient {
  private readonly cache = new Map<string, CachedKey>();
  /** (URL, kid) -> time until which the kid is refused without fetching; insertion ordered. */
  private readonly unknownKids = new Map<string, number>();
  /** URL -> its last fetch; insertion ordered. */
  private readonly fetches = new Map<string, UrlFetch>();
  private readonly minRefetchIntervalMs: number;
  private readonly unknownKidTtlMs: number;
  private readonly maxTracked: number;
  private readonly nowMs: () => number;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxBodyBytes: number;

  constructor(
    /** Endpoint URL, `{{name}}` placeholders allowed. */
    readonly template: string,
    opts: JwksClientOptions = {},
  ) {
    this.nowMs = opts.nowMs ?? Date.now;
    this.ttlMs = opts.ttlMs ?? JWKS_CACHE_TTL_MS;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.attempts = Math.max(1, opts.attempts ?? 2);
    this.maxBodyBytes = opts.maxBodyBytes ?? 1 << 20;
    this.minRefetchIntervalMs = opts.minRefetchIntervalMs ?? JWKS_MIN_REFETCH_INTERVAL_MS;
    this.unknownKidTtlMs = opts.unknownKidTtlMs ?? JWKS_UNKNOWN_KID_TTL_MS;
    this.maxTracked = Math.max(1, opts.maxTracked ?? JWKS_MAX_TRACKED);
  }

  /** Entries in the unknown-kid cache (bounded by `maxTracked`). */
  get unknownKidCount(): number {
    return this.unknownKids.size;
  }

  /**
   * Fills the placeholders (missing variables become empty, as in the reference) and refuses
   * a URL whose path is not already clean, which catches traversal like `/../`.
   */
  resolveUrl(vars: ReadonlyMap<string, string>): string {
    const url = fillTemplate(this.template, vars);
    const path = rawPath(url);
    if (path === undefined) throw new JwksError('jwks_url_unsafe', `unparsable JWKS URL ${JSON.stringify(url)}`);
    if (path !== '' && cleanPath(path) !== path) {
      throw new JwksError('jwks_url_unsafe', `JWKS URL path is not clean: ${JSON.stringify(path)}`);
    }
    return url;
  }

  /**
   * The key with this kid from the set at `url`, imported for `alg`. RSA keys serve RS*,
   * EC keys ES*, OKP Ed25519 keys EdDSA; a key that names its own `alg` serves only that one.
   * Throws JwksError.
   */
  async keyFor(url: string, kid: string | undefined, alg: string): Promise<CryptoKey | Uint8Array> {
    if (kid === undefined || kid === '') throw new JwksError('jwks_kid_missing', 'token header has no kid');
    if (kid.length > JWKS_MAX_KID_LENGTH) throw new JwksError('jwks_key_not_found', `kid longer than ${JWKS_MAX_KID_LENGTH} characters`);
    const cacheKey = `${url}\u0000${kid}`;
    const entry = this.fresh(cacheKey) ?? (await this.load(url, kid, cacheKey));
    if (!algFitsKey(entry.jwk, alg)) {
      throw new JwksError('jwks_key_unusable', `key ${JSON.stringify(kid)} (kty ${String(entry.jwk.kty)}) cannot verify ${alg}`);
    }
    let imported = entry.imported.get(alg);
    if (imported === undefined) {
      const importing = importJWK(publicPart(entry.jwk), alg);
      const target = entry;
      target.imported.set(alg, importing);
      importing.catch(() => target.imported.delete(alg));
      imported = importing;
    }
    try {
      return await imported;
    } catch (err) {
      throw new JwksError('jwks_key_unusable', `key ${JSON.stringify(kid)} cannot be imported for ${alg}`, { cause: err });
    }
  }

  private fresh(cacheKey: string): CachedKey | undefined {
    const entry = this.cache.get(cacheKey);
    return entry !== undefined && entry.expiresAtMs > this.nowMs() ? entry : undefined;
  }

  /** A cache miss: refuse, wait for the running fetch of the URL, or fetch it, in that order. */
  private async load(url: string, kid: string, cacheKey: string): Promise<CachedKey> {
    const notFound = () => new JwksError('jwks_key_not_found', `no signing key with kid ${JSON.stringify(kid)}`);
    const now = this.nowMs();
    const unknownUntil = this.unknownKids.get(cacheKey);
    if (unknownUntil !== undefined) {
      if (unknownUntil > now) throw notFound();
      this.unknownKids.delete(cacheKey);
    }
    const last = this.fetches.get(url);
    if (last?.running !== undefined) {
      await last.running;
      const found = this.fresh(cacheKey);
      if (found === undefined) throw notFound();
      return found;
    }
    if (last !== undefined && now - last.startedAtMs < this.minRefetchIntervalMs) {
      if (last.error !== undefined) throw last.error;
      throw notFound();
    }
    const record: UrlFetch = { startedAtMs: now };
    record.running = this.fetchSet(url).then(
      (keys) => {
        this.store(url, keys);
        record.running = undefined;
      },
      (err: unknown) => {
        record.error = err;
        record.running = undefined;
        throw err;
      },
    );
    remember(this.fetches, url, record, this.maxTracked);
    await record.running;
    const found = this.fresh(cacheKey);
    if (found !== undefined) return found;
    if (this.unknownKidTtlMs > 0) remember(this.unknownKids, cacheKey, this.nowMs() + this.unknownKidTtlMs, this.maxTracked);
    throw notFound();
  }

  private store(url: string, keys: JWK[]): void {
    const now = this.nowMs();
    if (this.cache.size > SWEEP_THRESHOLD) {
      for (const [k, v] of this.cache) if (v.expiresAtMs <= now) this.cache.delete(k);
    }
    for (const jwk of keys) {
      const cacheKey = `${url}\u0000${String(jwk.kid)}`;
      this.cache.set(cacheKey, { jwk, expiresAtMs: now + this.ttlMs, imported: new Map() });
      this.unknownKids.delete(cacheKey);
    }
  }

  /** GETs the set (retrying once), keeping the `use: "sig"` keys that have a kid. */
  private async fetchSet(url: string): Promise<JWK[]> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      try {
        const body = await this.get(url);
        return parseKeySet(body);
      } catch (err) {
        if (err instanceof JwksError && err.code === 'jwks_bad_response') throw err;
        lastError = err;
      }
    }
    throw new JwksError('jwks_fetch_failed', `fetching JWKS from ${url} failed`, { cause: lastError });
  }

  private async get(url: string): Promise<string> {
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`unexpected status ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > this.maxBodyBytes) {
      await res.body?.cancel();
      throw new Error(`response of ${declared} bytes exceeds ${this.maxBodyBytes}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > this.maxBodyBytes) throw new Error(`response exceeds ${this.maxBodyBytes} bytes`);
    return new TextDecoder().decode(bytes);
  }
}

/** Sets key -> value as the newest entry, dropping the oldest entries beyond `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done === true) break;
    map.delete(oldest.value);
  }
}

function parseKeySet(body: string): JWK[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new JwksError('jwks_bad_response', 'JWKS response is not JSON', { cause: err });
  }
  const keys = isRecord(doc) ? doc.keys : undefined;
  if (!Array.isArray(keys)) throw new JwksError('jwks_bad_response', 'JWKS response has no keys array');
  const out: JWK[] = [];
  for (const key of keys) {
    if (isRecord(key) && key.use === 'sig' && typeof key.kid === 'string' && typeof key.kty === 'string') out.push(key as JWK);
  }
  return out;
}

function algFitsKey(jwk: JWK, alg: string): boolean {
  const named = typeof jwk.alg === 'string' && jwk.alg !== '' ? jwk.alg : undefined;
  switch (jwk.kty) {
    case 'RSA':
      return RSA_ALGS.has(alg) && (named === undefined || named === alg);
    case 'EC':
      return EC_ALGS.has(alg) && (named === undefined || named === alg);
    case 'OKP':
      return jwk.crv === 'Ed25519' && alg === 'EdDSA';
    default:
      return false;
  }
}

/** Only the public key material, so that `alg`, `use`, `key_ops` or private members never reach the import. */
function publicPart(jwk: JWK): JWK {
  switch (jwk.kty) {
    case 'RSA':
      return { kty: 'RSA', n: jwk.n, e: jwk.e };
    case 'EC':
      return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    default:
      return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The path of an absolute URL exactly as written, percent-decoded; undefined when unparsable. */
function rawPath(url: string): string | undefined {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url);
  if (!scheme) return undefined;
  const rest = url.slice(scheme[0].length);
  const slash = rest.search(/[/?#]/);
  if (slash < 0 || rest[slash] !== '/') return '';
  const tail = rest.slice(slash);
  const stop = tail.search(/[?#]/);
  const encoded = stop < 0 ? tail : tail.slice(0, stop);
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** Names of the `{{name}}` placeholders of a URL template, in order (the name is the exact text between the braces). */
export function templatePlaceholders(template: string): string[] {
  const names: string[] = [];
  let rest = template;
  for (;;) {
    const start = rest.indexOf('{{');
    if (start < 0) break;
    const after = rest.slice(start + 2);
    const end = after.indexOf('}}');
    if (end < 0) break;
    names.push(after.slice(0, end));
    rest = after.slice(end + 2);
  }
  return names;
}

/** Replaces every `{{name}}` with its value; a name without a value becomes the empty string. */
export function fillTemplate(template: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  let rest = template;
  for (;;) {
    const start = rest.indexOf('{{');
    if (start < 0) break;
    const after = rest.slice(start + 2);
    const end = after.indexOf('}}');
    if (end < 0) break;
    out += rest.slice(0, start) + (vars.get(after.slice(0, end)) ?? '');
    rest = after.slice(end + 2);
  }
  return out + rest;
}

/** Go's path.Clean: the shortest lexically equivalent path. */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const parts: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!rooted) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = (rooted ? '/' : '') + parts.join('/');
  return joined === '' ? '.' : joined;
}
