/**
 * Options of the Redis broker and presence manager in the config's own snake_case shape (server.md
 * §1.6.3 [REDIS] block; durations in ms), and their translation into one connection spec per shard
 * (§6.2.1 address forms).
 */
import type { ConnectionOptions } from 'node:tls';
import type { Clock, Logger } from '../../core/index.js';
import { BrokerError } from '../errors.js';
import { tlsConnectionOptions } from '../tls.js';
import type { TlsBlock } from '../tls.js';

/** [TLS] block as the config writes it. */
export type RedisTlsOptions = TlsBlock;

/** Connection keys shared by the broker and the presence manager. Every key is optional. */
export interface RedisConnectionOptions {
  /** Prefix of every key and PUB/SUB channel; default `centrifugo`. */
  prefix?: string;
  /** One entry per shard: `host:port` or a URL (redis, rediss, unix, tcp, redis+sentinel, redis+cluster). */
  address?: readonly string[];
  connect_timeout?: number;
  io_timeout?: number;
  db?: number;
  user?: string;
  password?: string;
  client_name?: string;
  /** Accepted for config compatibility; the driver always speaks RESP2. */
  force_resp2?: boolean;
  /** Redis Cluster: one entry per shard, each a comma-separated list of seeds. Wins over the rest. */
  cluster_address?: readonly string[];
  tls?: RedisTlsOptions;
  /** Sentinel: one entry per shard, each a comma-separated list of sentinels. */
  sentinel_address?: readonly string[];
  sentinel_user?: string;
  sentinel_password?: string;
  sentinel_master_name?: string;
  /** Accepted for config compatibility; not applied (the driver names only data connections). */
  sentinel_client_name?: string;
  sentinel_tls?: RedisTlsOptions;
  /** Receives connection errors and dropped frames; defaults to none. */
  logger?: Logger;
}

/** Redis broker options. */
export interface RedisBrokerOptions extends RedisConnectionOptions {
  /** Keep history in Lists instead of Streams (same semantics, filters applied after a full read). */
  history_use_lists?: boolean;
  /** Source of publish times; defaults to the system clock. Expiry always runs on Redis time. */
  clock?: Clock;
  /** Meta lifetime when a publish or read gives none; default 720h (`channel.history_meta_ttl`). */
  defaultHistoryMetaTtlMs?: number;
}

/** Redis presence manager options. */
export interface RedisPresenceOptions extends RedisConnectionOptions {
  /** Entry lifetime without a refresh, ms; default 60 s. */
  presence_ttl?: number;
  /** Keep a per-user client count so presenceStats does not read every entry. */
  presence_user_mapping?: boolean;
  /** Not supported (needs Redis ≥ 7.4); the side sorted set is used either way. */
  presence_hash_field_ttl?: boolean;
  /** Time source of entry expiry scores; defaults to the system clock. */
  clock?: Clock;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Connection parameters common to every mode. */
export interface CommonSpec {
  db: number;
  username?: string;
  password?: string;
  clientName?: string;
  tls?: ConnectionOptions;
  connectTimeoutMs: number;
  ioTimeoutMs: number;
}

/** How to reach one shard. */
export type ShardSpec =
  | (CommonSpec & { mode: 'standalone'; host: string; port: number; path?: string })
  | (CommonSpec & { mode: 'sentinel'; sentinels: HostPort[]; masterName: string; sentinelUsername?: string; sentinelPassword?: string; sentinelTls?: ConnectionOptions })
  | (CommonSpec & { mode: 'cluster'; seeds: HostPort[] });

const DEFAULT_ADDRESS = 'redis://127.0.0.1:6379';

function bad(message: string): BrokerError {
  return new BrokerError('backend_error', `redis options: ${message}`);
}

/** Go duration text (`500ms`, `1s`, `1m30s`) to ms. */
function goDurationMs(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text.trim();
  if (rest === '0') return 0;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw bad(`bad duration "${text}"`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

function hostPort(text: string, defaultPort = 6379): HostPort {
  const t = text.trim();
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t) ?? /^([^:]*)(?::(\d+))?$/.exec(t);
  if (!m) throw bad(`bad address "${text}"`);
  return { host: m[1] || '127.0.0.1', port: m[2] ? Number(m[2]) : defaultPort };
}

function common(o: RedisConnectionOptions): CommonSpec {
  const spec: CommonSpec = {
    db: o.db ?? 0,
    connectTimeoutMs: o.connect_timeout && o.connect_timeout > 0 ? o.connect_timeout : 1000,
    ioTimeoutMs: o.io_timeout && o.io_timeout > 0 ? o.io_timeout : 4000,
  };
  if (o.user) spec.username = o.user;
  if (o.password) spec.password = o.password;
  if (o.client_name) spec.clientName = o.client_name;
  const tls = tlsConnectionOptions(o.tls);
  if (tls) spec.tls = tls;
  return spec;
}

/** One `address` entry: `host:port` or a URL with the §6.2.1 query options. */
function parseAddress(entry: string, base: CommonSpec, o: RedisConnectionOptions): ShardSpec {
  if (!entry.includes('://')) return { ...base, mode: 'standalone', ...hostPort(entry) };
  const url = new URL(entry);
  const scheme = url.protocol.replace(/:$/, '');
  const spec: CommonSpec = { ...base };
  if (url.username) spec.username = decodeURIComponent(url.username);
  if (url.password) spec.password = decodeURIComponent(url.password);
  const q = url.searchParams;
  if (q.get('connect_timeout')) spec.connectTimeoutMs = goDurationMs(q.get('connect_timeout')!);
  if (q.get('io_timeout')) spec.ioTimeoutMs = goDurationMs(q.get('io_timeout')!);
  const secure = scheme.startsWith('rediss') || q.get('tls_enabled') === 'true';
  if (secure) spec.tls = spec.tls ?? tlsConnectionOptions(o.tls, true);
  if (scheme === 'unix') return { ...spec, mode: 'standalone', host: '', port: 0, path: url.pathname };
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '') spec.db = Number(dbText);
  const first: HostPort = { host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: url.port ? Number(url.port) : 6379 };
  const seeds = [first, ...q.getAll('addr').map((a) => hostPort(a))];
  const masterName = q.get('sentinel_master_name') ?? '';
  if (scheme.endsWith('+sentinel') || masterName !== '') {
    if (!masterName) throw bad(`sentinel address "${entry}" needs sentinel_master_name`);
    const sentinel: ShardSpec = { ...spec, mode: 'sentinel', sentinels: seeds, masterName };
    const user = q.get('sentinel_user') ?? o.sentinel_user;
    const password = q.get('sentinel_password') ?? o.sentinel_password;
    if (user) sentinel.sentinelUsername = user;
    if (password) sentinel.sentinelPassword = password;
    if (q.get('sentinel_tls_enabled') === 'true') sentinel.sentinelTls = tlsConnectionOptions(o.sentinel_tls, true)!;
    return sentinel;
  }
  if (scheme.endsWith('+cluster')) return { ...spec, mode: 'cluster', seeds };
  if (scheme !== 'redis' && scheme !== 'rediss' && scheme !== 'tcp') throw bad(`unsupported scheme in "${entry}"`);
  return { ...spec, mode: 'standalone', ...first };
}

/** Seeds of one comma-separated entry; items may be `host:port` or URLs (credentials taken from the first). */
function seedList(entry: string, spec: CommonSpec): HostPort[] {
  return entry.split(',').filter((s) => s.trim() !== '').map((item) => {
    if (!item.includes('://')) return hostPort(item);
    const url = new URL(item.trim());
    if (url.username && !spec.username) spec.username = decodeURIComponent(url.username);
    if (url.password && !spec.password) spec.password = decodeURIComponent(url.password);
    return { host: url.hostname, port: url.port ? Number(url.port) : 6379 };
  });
}

/**
 * One spec per shard: `cluster_address` wins, then `sentinel_address`, then `address` (default
 * `redis://127.0.0.1:6379`). Throws a BrokerError on malformed entries.
 */
export function shardSpecs(o: RedisConnectionOptions): ShardSpec[] {
  const base = common(o);
  if (o.cluster_address && o.cluster_address.length > 0) {
    return o.cluster_address.map((entry) => {
      const spec = { ...base, db: 0 };
      return { ...spec, mode: 'cluster' as const, seeds: seedList(entry, spec) };
    });
  }
  if (o.sentinel_address && o.sentinel_address.length > 0) {
    if (!o.sentinel_master_name) throw bad('sentinel_master_name is required with sentinel_address');
    return o.sentinel_address.map((entry) => {
      const spec: ShardSpec = { ...base, mode: 'sentinel', sentinels: seedList(entry, { ...base }), masterName: o.sentinel_master_name! };
      if (o.sentinel_user) spec.sentinelUsername = o.sentinel_user;
      if (o.sentinel_password) spec.sentinelPassword = o.sentinel_password;
      const sTls = tlsConnectionOptions(o.sentinel_tls);
      if (sTls) spec.sentinelTls = sTls;
      return spec;
    });
  }
  const addresses = o.address && o.address.length > 0 ? o.address : [DEFAULT_ADDRESS];
  return addresses.map((entry) => parseAddress(entry, base, o));
}
