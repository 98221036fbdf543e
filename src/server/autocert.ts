/**
 * ACME certificates for the HTTP listeners (`http_server.tls_autocert`): a certificate is
 * obtained for an allowed host name at start (the whitelist) or on the first TLS handshake
 * that asks for it, cached in `cache_dir`, and renewed before it expires. Challenges are
 * HTTP-01 (served by a small HTTP server on `http_addr` when `http` is on) or TLS-ALPN-01
 * (answered on the TLS listener itself). The cache layout is Go autocert's: one file per
 * host holding the private key then the chain, and the account key in `acme_account+key`,
 * so a Centrifugo cache directory can be reused.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Logger } from '../core/index.js';

/** Let's Encrypt's production directory, used when `acme_directory_url` is empty. */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/** The `tls_autocert` block as the configuration gives it. */
export interface AutocertConfig {
  host_whitelist?: readonly string[];
  cache_dir?: string;
  email?: string;
  server_name?: string;
  http?: boolean;
  http_addr?: string;
  acme_directory_url?: string;
  acme_ca_file?: string;
}

/** Timing knobs (tests shorten them). */
export interface AutocertTiming {
  /** A certificate is renewed when it expires within this long (default 30 days). */
  renewBeforeMs?: number;
  /** How often held certificates are checked for renewal (default 12 h). */
  checkIntervalMs?: number;
  /** After a failed issuance, handshakes for that host do not retry it for this long (default 60 s). */
  failureBackoffMs?: number;
}

const DAY_MS = 24 * 3600 * 1000;
/** Hosts whose certificates are held in memory, and hosts remembered as failing: the bound on both maps. */
const MAX_HOSTS = 1000;
/** Pending HTTP-01 tokens: one per authorization in flight, bounded like the hosts. */
const MAX_TOKENS = MAX_HOSTS;
const ACCOUNT_FILE = 'acme_account+key';
const HOST_PATTERN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----\s*/g;

interface Held {
  context: tls.SecureContext;
  notAfterMs: number;
  /** The PEM texts the context was made of. */
  key: string;
  chain: string;
}

type AcmeLib = typeof import('acme-client');
type AcmeClient = InstanceType<AcmeLib['Client']>;

/** Splits a key-then-chain PEM file into its private key and its certificates; undefined if either is missing. */
export function splitKeyAndChain(text: string): { key: string; chain: string } | undefined {
  let key = '';
  let chain = '';
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1]?.endsWith('PRIVATE KEY')) key ||= m[0];
    else if (m[1] === 'CERTIFICATE') chain += m[0];
  }
  return key && chain ? { key, chain } : undefined;
}

/** Parses `host:port` / `:port` (the Go form of `http_addr`). */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = (i < 0 ? '' : addr.slice(0, i)).replace(/^\[(.*)\]$/, '$1');
  const port = Number(i < 0 ? addr : addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid listen address ${JSON.stringify(addr)}`);
  return { host, port };
}

/**
 * Obtains, caches and renews ACME certificates. `context(name)` answers a TLS handshake's
 * SNI; `start()` binds the HTTP-01 server and fetches the whitelist's certificates in the
 * background; `close()` stops the renewal timer and the challenge server.
 */
export class Autocert {
  private readonly certs = new Map<string, Held>();
  private readonly pending = new Map<string, Promise<Held>>();
  private readonly failedUntil = new Map<string, number>();
  private readonly httpTokens = new Map<string, string>();
  private readonly alpnContexts = new Map<string, tls.SecureContext>();
  private readonly whitelist: Set<string>;
  private readonly renewBeforeMs: number;
  private readonly checkIntervalMs: number;
  private readonly failureBackoffMs: number;
  private challengeServer: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private client: Promise<{ lib: AcmeLib; client: AcmeClient }> | undefined;
  private closed = false;
  /** Called each time a certificate is installed for a host, with its PEM key and chain (listeners refresh their default context). */
  onCertificate: ((host: string, key: string, chain: string) => void) | undefined;

  constructor(
    private readonly config: AutocertConfig,
    private readonly logger: Logger,
    timing: AutocertTiming = {},
  ) {
    this.whitelist = new Set((config.host_whitelist ?? []).map(normalizeHost));
    this.renewBeforeMs = timing.renewBeforeMs ?? 30 * DAY_MS;
    this.checkIntervalMs = timing.checkIntervalMs ?? 12 * 3600 * 1000;
    this.failureBackoffMs = timing.failureBackoffMs ?? 60_000;
  }

  /** The host assumed for handshakes without SNI (`server_name`), normalized; empty when unset. */
  get defaultHost(): string {
    return normalizeHost(this.config.server_name ?? '');
  }

  /** Binds the HTTP-01 challenge server (when `http` is on), then fetches the whitelist's certificates in the background. */
  async start(): Promise<void> {
    if (this.config.http) {
      const { host, port } = parseListenAddr(this.config.http_addr || ':80');
      const server = http.createServer({ headersTimeout: 10_000 }, (req, res) => this.serveHttp(req, res));
      this.challengeServer = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: host || undefined, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    this.timer = setInterval(() => void this.renewDue(), this.checkIntervalMs);
    this.timer.unref();
    const hosts = [...this.whitelist];
    const dflt = this.defaultHost;
    if (dflt && this.allowed(dflt) && !this.whitelist.has(dflt)) hosts.push(dflt);
    for (const host of hosts) {
      // A failure is logged where it happens.
      this.ensure(host).catch(() => undefined);
    }
  }

  /** True when a certificate may be requested for this (normalized) host. */
  allowed(host: string): boolean {
    if (!HOST_PATTERN.test(host)) return false;
    return this.whitelist.size === 0 || this.whitelist.has(host);
  }

  /**
   * The secure context for a handshake naming `servername` (the default host when empty):
   * the TLS-ALPN-01 challenge certificate when `alpnChallenge`, else the host's certificate,
   * obtained first when it has none. Rejects for hosts that are not allowed.
   */
  async context(servername: string, alpnChallenge: boolean): Promise<tls.SecureContext> {
    const host = normalizeHost(servername) || this.defaultHost;
    if (alpnChallenge) {
      const c = this.alpnContexts.get(host);
      if (!c) throw new Error(`no TLS-ALPN-01 challenge pending for ${host}`);
      return c;
    }
    if (!this.allowed(host)) throw new Error(`host ${JSON.stringify(host)} not allowed for ACME certificates`);
    return (await this.ensure(host)).context;
  }

  /** A valid certificate for `host`: held, cached on disk, or obtained now (one issuance per host at a time). */
  private ensure(host: string): Promise<Held> {
    const held = this.certs.get(host);
    if (held && !this.dueForRenewal(held)) return Promise.resolve(held);
    const running = this.pending.get(host);
    if (running) return running;
    // A held certificate that is due for renewal keeps serving while the new one is obtained.
    if (held && held.notAfterMs > Date.now()) {
      void this.refresh(host);
      return Promise.resolve(held);
    }
    return this.refresh(host);
  }

  private refresh(host: string): Promise<Held> {
    const running = this.pending.get(host);
    if (running) return running;
    const p = this.loadOrObtain(host).finally(() => this.pending.delete(host));
    this.pending.set(host, p);
    p.catch(() => undefined);
    return p;
  }

  private async loadOrObtain(host: string): Promise<Held> {
    const cached = await this.readCache(host);
    if (cached && !this.dueForRenewal(cached)) return this.install(host, cached);
    const until = this.failedUntil.get(host) ?? 0;
    if (Date.now() < until) {
      if (cached && cached.notAfterMs > Date.now()) return this.install(host, cached);
      throw new Error(`ACME issuance for ${host} failed recently; retrying after ${new Date(until).toISOString()}`);
    }
    try {
      const pem = await this.obtain(host);
      this.failedUntil.delete(host);
      await this.writeCache(host, pem);
      const fresh = heldOf(pem);
      if (!fresh) throw new Error(`the CA returned an unusable certificate for ${host}`);
      this.logger.info({ host, not_after: new Date(fresh.notAfterMs).toISOString() }, 'ACME certificate obtained');
      return this.install(host, fresh);
    } catch (err) {
      boundedSet(this.failedUntil, host, Date.now() + this.failureBackoffMs);
      // Once per failure backoff per host: handshakes in between fail without a new attempt.
      this.logger.warn({ err, host }, 'ACME certificate not obtained');
      if (cached && cached.notAfterMs > Date.now()) {
        this.logger.warn({ host }, 'the cached ACME certificate keeps serving until a renewal succeeds');
        return this.install(host, cached);
      }
      throw err;
    }
  }

  private install(host: string, held: Held): Held {
    boundedSet(this.certs, host, held);
    this.onCertificate?.(host, held.key, held.chain);
    return held;
  }

  private dueForRenewal(held: Held): boolean {
    return held.notAfterMs - Date.now() <= this.renewBeforeMs;
  }

  /** Renews every held certificate that is due (the periodic check). */
  private async renewDue(): Promise<void> {
    for (const [host, held] of this.certs) {
      if (this.closed) return;
      if (!this.dueForRenewal(held)) continue;
      await this.refresh(host).catch(() => undefined);
    }
  }

  private async readCache(host: string): Promise<Held | undefined> {
    const dir = this.config.cache_dir;
    if (!dir) return undefined;
    let text: string;
    try {
      text = await readFile(join(dir, host), 'utf8');
    } catch {
      return undefined;
    }
    const held = heldOf(text);
    if (!held) this.logger.warn({ host, dir }, 'ACME cache file unreadable; obtaining a new certificate');
    return held;
  }

  private async writeCache(host: string, pem: string): Promise<void> {
    const dir = this.config.cache_dir;
    if (!dir) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `${host}.tmp-${process.pid}`);
    await writeFile(tmp, pem, { mode: 0o600 });
    await rename(tmp, join(dir, host));
  }

  /** The ACME client, made once: account key from the cache (or new, then cached), CA bundle from `acme_ca_file`. */
  private acme(): Promise<{ lib: AcmeLib; client: AcmeClient }> {
    this.client ??= (async () => {
      const mod = (await import('acme-client')) as AcmeLib & { default?: AcmeLib };
      const lib = mod.default ?? mod;
      if (this.config.acme_ca_file) {
        const ca = await readFile(this.config.acme_ca_file, 'utf8');
        lib.axios.defaults.httpsAgent = new https.Agent({ ca, keepAlive: false });
      }
      const accountKey = await this.accountKey(lib);
      const client = new lib.Client({ directoryUrl: this.config.acme_directory_url || LETS_ENCRYPT_DIRECTORY, accountKey });
      return { lib, client };
    })();
    this.client.catch(() => {
      this.client = undefined;
    });
    return this.client;
  }

  private async accountKey(lib: AcmeLib): Promise<Buffer | string> {
    const dir = this.config.cache_dir;
    if (dir) {
      try {
        return await readFile(join(dir, ACCOUNT_FILE), 'utf8');
      } catch {
        // No account yet: made below.
      }
    }
    const key = await lib.crypto.createPrivateEcdsaKey();
    if (dir) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, ACCOUNT_FILE), key, { mode: 0o600 });
    }
    return key;
  }

  /** Runs one ACME order for `host`; resolves to the key-then-chain PEM. */
  private async obtain(host: string): Promise<string> {
    if (this.closed) throw new Error('autocert closed');
    const { lib, client } = await this.acme();
    const key = await lib.crypto.createPrivateEcdsaKey();
    const [, csr] = await lib.crypto.createCsr({ commonName: host, altNames: [host] }, key);
    const types = this.config.http ? ['http-01', 'tls-alpn-01'] : ['tls-alpn-01'];
    const chain = await client.auto({
      csr,
      email: this.config.email || undefined,
      termsOfServiceAgreed: true,
      // The CA validates; checking from here would need the public port 80/443.
      skipChallengeVerification: true,
      challengePriority: types,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        // acme-client's types know only http-01 and dns-01.
        const type: string = challenge.type;
        if (type === 'http-01' && this.config.http) {
          if (this.httpTokens.size >= MAX_TOKENS) throw new Error('too many pending HTTP-01 challenges');
          this.httpTokens.set(challenge.token, keyAuthorization);
        } else if (type === 'tls-alpn-01') {
          const [k, c] = await lib.crypto.createAlpnCertificate(authz, keyAuthorization);
          this.alpnContexts.set(normalizeHost(authz.identifier.value), tls.createSecureContext({ key: k, cert: c, minVersion: 'TLSv1.2' }));
        } else {
          throw new Error(`challenge type ${type} not served`);
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        if (challenge.type === 'http-01') this.httpTokens.delete(challenge.token);
        else this.alpnContexts.delete(normalizeHost(authz.identifier.value));
      },
    });
    return key.toString() + chain;
  }

  /** HTTP-01 tokens; any other GET/HEAD is redirected to https. */
  private serveHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const prefix = '/.well-known/acme-challenge/';
    if (path.startsWith(prefix)) {
      const answer = this.httpTokens.get(path.slice(prefix.length));
      if (answer === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
      return;
    }
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if ((req.method === 'GET' || req.method === 'HEAD') && host) {
      res.writeHead(302, { location: `https://${host}${req.url ?? '/'}` }).end();
      return;
    }
    res.writeHead(400, { 'content-type': 'text/plain' }).end('use HTTPS\n');
  }

  /** Stops the renewal timer and the challenge server; an issuance in flight ends on its own. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const s = this.challengeServer;
    if (s) {
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
  }
}

function normalizeHost(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

function heldOf(pem: string): Held | undefined {
  const parts = splitKeyAndChain(pem);
  if (!parts) return undefined;
  try {
    const leaf = new X509Certificate(parts.chain);
    const context = tls.createSecureContext({ key: parts.key, cert: parts.chain, minVersion: 'TLSv1.2' });
    return { context, notAfterMs: Date.parse(leaf.validTo), key: parts.key, chain: parts.chain };
  } catch {
    return undefined;
  }
}

/** Map insertion that evicts the oldest entry past MAX_HOSTS. */
function boundedSet<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_HOSTS) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
