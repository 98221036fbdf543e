/**
 * ioredis clients for one shard, configured so failures surface instead of waiting: no offline
 * queue (a command while disconnected rejects at once), no automatic resend of commands that were
 * in flight when a connection dropped, a per-command timeout of io_timeout, and endless reconnects
 * in the background. Also the shard choice for a channel (jump consistent hash over FNV-1a 64).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../../core/index.js';
import { BrokerError } from '../errors.js';
import type { HostPort, ShardSpec } from './options.js';

const requireDriver = createRequire(import.meta.url);
let driver: typeof import('ioredis') | undefined;

/** The ioredis module, loaded on first use so a Gyre without Redis never loads it. */
function ioredis(): typeof import('ioredis') {
  driver ??= requireDriver('ioredis') as typeof import('ioredis');
  return driver;
}

/** A command client of one shard: a standalone/sentinel connection or a cluster client. */
export type RedisClient = Redis | Cluster;

/** Reconnect delay after `attempt` consecutive failures: 50 ms growing to 1 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 1000);
}

// A few rounds over the sentinels, then the connection attempt fails and the outer reconnect loop
// starts over: so a first connect with every sentinel down fails instead of waiting forever.
function sentinelRetry(attempt: number): number | null {
  return attempt > 5 ? null : reconnectDelayMs(attempt);
}

function baseOptions(spec: ShardSpec): RedisOptions {
  const o: RedisOptions = {
    db: spec.mode === 'cluster' ? 0 : spec.db,
    connectTimeout: spec.connectTimeoutMs,
    commandTimeout: spec.ioTimeoutMs,
    lazyConnect: true,
    enableReadyCheck: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    keepAlive: 1000,
    noDelay: true,
  };
  if (spec.username) o.username = spec.username;
  if (spec.password) o.password = spec.password;
  if (spec.clientName) o.connectionName = spec.clientName;
  if (spec.tls) o.tls = spec.tls;
  return o;
}

function sentinelOptions(spec: Extract<ShardSpec, { mode: 'sentinel' }>): RedisOptions {
  const o: RedisOptions = { sentinels: spec.sentinels, name: spec.masterName, role: 'master', sentinelRetryStrategy: sentinelRetry };
  if (spec.sentinelUsername) o.sentinelUsername = spec.sentinelUsername;
  if (spec.sentinelPassword) o.sentinelPassword = spec.sentinelPassword;
  if (spec.sentinelTls) {
    o.sentinelTLS = spec.sentinelTls;
    o.enableTLSForSentinelMode = true;
  }
  return o;
}

/** The command client of a shard (not yet connected: call `connect()`). */
export function createCommandClient(spec: ShardSpec, logger?: Logger): RedisClient {
  const { Cluster, Redis } = ioredis();
  const base = baseOptions(spec);
  let client: RedisClient;
  if (spec.mode === 'cluster') {
    const { db: _db, lazyConnect: _lazy, ...redisOptions } = base;
    client = new Cluster(spec.seeds, {
      redisOptions,
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      scaleReads: 'master',
      clusterRetryStrategy: reconnectDelayMs,
      slotsRefreshTimeout: spec.connectTimeoutMs,
      retryDelayOnClusterDown: 100,
      retryDelayOnFailover: 100,
    });
  } else {
    const mode = spec.mode === 'sentinel' ? sentinelOptions(spec) : spec.path ? { path: spec.path } : { host: spec.host, port: spec.port };
    client = new Redis({ ...base, ...mode, enableOfflineQueue: false, retryStrategy: reconnectDelayMs });
  }
  client.on('error', (err: unknown) => logger?.debug({ err }, 'redis connection error'));
  return client;
}

/**
 * One PUB/SUB connection of a shard that does not reconnect by itself: the subscriber opens a new
 * one after `end`. Cluster shards rotate through the known nodes (PUBLISH reaches every node).
 */
export function createSubscriberConnection(spec: ShardSpec, attempt: number, cmd: RedisClient): Redis {
  const { Cluster, Redis } = ioredis();
  const base: RedisOptions = { ...baseOptions(spec), retryStrategy: () => null, autoResubscribe: false, enableOfflineQueue: false, commandTimeout: spec.ioTimeoutMs };
  delete base.maxRetriesPerRequest;
  if (spec.mode === 'sentinel') return new Redis({ ...base, ...sentinelOptions(spec) });
  if (spec.mode === 'standalone') return new Redis({ ...base, ...(spec.path ? { path: spec.path } : { host: spec.host, port: spec.port }) });
  const known: HostPort[] = cmd instanceof Cluster ? cmd.nodes('all').map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 })) : [];
  const nodes = known.length > 0 ? known : spec.seeds;
  const node = nodes[attempt % nodes.length]!;
  return new Redis({ ...base, db: 0, host: node.host, port: node.port });
}

/** Connects a command client; rejects with a BrokerError when the first attempt fails (retries go on). */
export async function connectClient(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return;
  try {
    if (client.status === 'wait') await client.connect();
    else await waitReady(client);
  } catch (err) {
    throw backendError('cannot connect to redis', err);
  }
}

function waitReady(client: RedisClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('error', onError);
      resolve();
    };
    const onError = (err: unknown): void => {
      client.off('ready', onReady);
      reject(err);
    };
    client.once('ready', onReady);
    client.once('error', onError);
  });
}

/** Wraps a driver failure into a BrokerError with code `backend_error`. */
export function backendError(message: string, cause: unknown): BrokerError {
  if (cause instanceof BrokerError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BrokerError('backend_error', `${message}: ${detail}`, { cause });
}

/** A Lua script with its SHA1, run by EVALSHA with a fallback to EVAL when Redis lost it. */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script; replies keep bulk strings as Buffers. */
  async run(client: RedisClient, keys: readonly string[], args: readonly (string | Buffer | number)[]): Promise<unknown> {
    const rest = [keys.length, ...keys, ...args];
    try {
      return await client.callBuffer('evalsha', [this.sha, ...rest]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.callBuffer('eval', [this.source, ...rest]);
    }
  }
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;
const utf8 = new TextEncoder();

/** FNV-1a 64 of the UTF-8 bytes of `s`. */
export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const b of utf8.encode(s)) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return h;
}

/** Jump consistent hash (Lamping & Veach): a bucket in [0, buckets) that moves minimally as buckets grow. */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK64;
    j = Math.floor((b + 1) * (2 ** 31 / Number((k >> 33n) + 1n)));
  }
  return b;
}

/** The shard index of a channel among `n` shards (0 when n is 1). */
export function shardIndex(channel: string, n: number): number {
  return n <= 1 ? 0 : jumpHash(fnv1a64(channel), n);
}

/**
 * The first connection of a set of shards (command client and PUB/SUB subscriber each),
 * started once and shared by every caller; a failed attempt is forgotten so that a later
 * call tries again.
 */
export class ShardsConnector {
  private connecting: Promise<void> | undefined;

  constructor(private readonly shards: readonly { readonly cmd: RedisClient; readonly sub: { start(): Promise<void> } }[]) {}

  connect(): Promise<void> {
    if (!this.connecting) {
      const attempt = Promise.all(this.shards.map((s) => Promise.all([connectClient(s.cmd), s.sub.start()]))).then(() => undefined);
      this.connecting = attempt;
      attempt.catch(() => {
        if (this.connecting === attempt) this.connecting = undefined;
      });
    }
    return this.connecting;
  }
}
