import type {
  Clock,
  Logger,
  MapBroker,
  MapBrokerEventHandler,
  MapPublication,
  MapPublishOptions,
  MapReadStateOptions,
  MapReadStreamOptions,
  MapRemoveOptions,
  MapStateResult,
  MapStats,
  MapStreamResult,
  MapSuppressReason,
  MapUpdateResult,
} from '../../core/index.js';
import { mapHasStream, systemClock } from '../../core/index.js';
import { encodeBody } from '../envelope.js';
import { newStreamEpoch } from '../epoch.js';
import { BrokerError } from '../errors.js';
import { backendError, createSubscriberConnection, ShardsConnector } from './connection.js';
import type { RedisClient } from './connection.js';
import { bodyPrefix, decodeMapFrame, decodeStateValue, decodeStreamEntry, tagsBlock } from './map-codec.js';
import { RedisMapKeys } from './map-keys.js';
import { MAP_EXPIRE, MAP_PUBLISH, MAP_READ_STATE, MAP_READ_STREAM, MAP_REMOVE } from './map-scripts.js';
import type { RedisConnectionOptions } from './options.js';
import { buildShards, disconnectShards, shardFor } from './shards.js';
import type { RedisShard } from './shards.js';
import { pubSubErrorCounts, RedisSubscriber, type PubSubErrorCounts } from './subscriber.js';

/** Default lifetime of a remembered idempotent map write: 5 minutes. */
export const REDIS_MAP_DEFAULT_IDEMPOTENT_RESULT_TTL_MS = 5 * 60 * 1000;
/** Default period of the expired-key cleanup: 1 s. */
export const REDIS_MAP_DEFAULT_CLEANUP_INTERVAL_MS = 1000;
/** Default number of keys one cleanup step removes from one channel. */
export const REDIS_MAP_DEFAULT_CLEANUP_BATCH_SIZE = 100;

/** Options of the Redis map broker: the [REDIS] block plus the `map_broker.redis` keys (durations in ms). */
export interface RedisMapBrokerOptions extends RedisConnectionOptions {
  /** Period of the expired-key cleanup; negative disables it, 0 = 1 s. */
  cleanup_interval?: number;
  /** Keys removed per channel per cleanup step; 0 = 100. */
  cleanup_batch_size?: number;
  /** Default lifetime of idempotency results; 0 = 5 min. */
  idempotent_result_ttl?: number;
  /** Store only: no PUB/SUB frames are published (another process delivers). */
  skip_pub_sub?: boolean;
  /** Source of publication times; key expiry always runs on Redis time. */
  clock?: Clock;
}

type Shard = RedisShard & { readonly sub: RedisSubscriber; readonly map: RedisMapKeys };

// Channels one shard's cleanup handles per tick at most, in pages of this size.
const CLEANUP_PAGE = 100;
const CLEANUP_MAX_PAGES = 10;

/**
 * MapBroker over Redis (standalone, Sentinel, Cluster, several client-side shards). Each channel's
 * state, change stream, key expiry set and epoch live in keys hash-tagged to one slot and change
 * only inside Lua scripts that also PUBLISH the live frame, so state, stream and live order agree.
 * Key TTL expiry runs on every node: a cleanup loop reads the shard's registration set of channels
 * with due keys and removes them with a script (removals are streamed and published like explicit
 * ones). Live delivery is at most once over PUB/SUB (`reliable = false`); subscribers detect gaps
 * by offset. Every call rejects with code `backend_error` while Redis is unreachable.
 */
export class RedisMapBroker implements MapBroker {
  readonly reliable = false;
  /** PUB/SUB failures of every shard since start (Prometheus samples them). */
  readonly pubSubErrors: PubSubErrorCounts = pubSubErrorCounts();
  private readonly shards: Shard[];
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly cleanupMs: number;
  private readonly batch: number;
  private readonly resultTtlMs: number;
  private readonly skipPubSub: boolean;
  private handler: MapBrokerEventHandler | undefined;
  private readonly connector: ShardsConnector;
  private timer: NodeJS.Timeout | undefined;
  private cleaning = false;
  private cleanupFailing = false;
  private closed = false;

  constructor(opts: RedisMapBrokerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    const interval = opts.cleanup_interval ?? 0;
    this.cleanupMs = interval < 0 ? 0 : interval > 0 ? interval : REDIS_MAP_DEFAULT_CLEANUP_INTERVAL_MS;
    this.batch = opts.cleanup_batch_size && opts.cleanup_batch_size > 0 ? Math.floor(opts.cleanup_batch_size) : REDIS_MAP_DEFAULT_CLEANUP_BATCH_SIZE;
    this.resultTtlMs = opts.idempotent_result_ttl && opts.idempotent_result_ttl > 0 ? opts.idempotent_result_ttl : REDIS_MAP_DEFAULT_IDEMPOTENT_RESULT_TTL_MS;
    this.skipPubSub = opts.skip_pub_sub === true;
    this.shards = buildShards(opts, this.logger).map((shard) => {
      const map = new RedisMapKeys(shard.keys.prefix, shard.spec.mode === 'cluster');
      const sub = new RedisSubscriber(
        (attempt) => createSubscriberConnection(shard.spec, attempt, shard.cmd),
        (name, message) => this.onMessage(map, name, message),
        this.logger,
        this.pubSubErrors,
      );
      return { ...shard, sub, map };
    });
    this.connector = new ShardsConnector(this.shards);
  }

  /** Connects every shard and starts the cleanup loop; rejects with `backend_error` when a shard is unreachable (the loop still starts). */
  async run(handler: MapBrokerEventHandler): Promise<void> {
    this.ensureOpen();
    this.handler = handler;
    if (this.cleanupMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.cleanup(), this.cleanupMs);
      this.timer.unref();
    }
    await this.connect();
  }

  async subscribe(channel: string): Promise<void> {
    this.ensureOpen();
    const shard = shardFor(this.shards, channel);
    await shard.sub.subscribe(shard.map.pubsub(channel));
  }

  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    const shard = shardFor(this.shards, channel);
    await shard.sub.unsubscribe(shard.map.pubsub(channel));
  }

  async publish(channel: string, key: string, opts: MapPublishOptions): Promise<MapUpdateResult> {
    if (key === '') throw new BrokerError('bad_key', 'map key must not be empty');
    await this.ready();
    const shard = shardFor(this.shards, channel);
    const o = opts.channel;
    const stream = mapHasStream(o);
    const args = [
      key,
      encodeBody(opts.data, this.clock.now(), opts.clientInfo, opts.tags),
      tagsBlock(opts.tags),
      stream ? Math.floor(o.streamSize) : 0,
      stream ? Math.ceil(o.streamTtlMs) : 0,
      Math.ceil(o.metaTtlMs),
      newStreamEpoch(),
      this.pubsubOf(shard, channel),
      opts.delta ? '1' : '0',
      opts.version && opts.version > 0 && stream ? opts.version : 0,
      opts.versionEpoch ?? '',
      opts.keyMode ?? '',
      opts.refreshTtlOnSuppress ? '1' : '0',
      Math.ceil(o.keyTtlMs),
      opts.idempotencyKey ? Math.ceil(positive(opts.idempotentResultTtlMs, this.resultTtlMs)) : 0,
      shard.map.cluster ? '0' : '1',
      channel,
    ];
    let reply: unknown;
    try {
      const result = shard.map.result(channel, opts.idempotencyKey ?? '');
      // On a cluster every key must share the channel's slot: the result key stands in for the registration.
      reply = await MAP_PUBLISH.run(shard.cmd, [...shard.map.channelKeys(channel), result, shard.map.cluster ? result : shard.map.cleanup()], args);
    } catch (err) {
      throw backendError('redis map publish failed', err);
    }
    const [offset, epoch, reason, expireAt] = reply as [number, Buffer, Buffer, number];
    if (shard.map.cluster && Number(expireAt) > 0) await this.register(shard, channel, Number(expireAt));
    return updateResult(offset, epoch, reason);
  }

  async remove(channel: string, key: string, opts: MapRemoveOptions): Promise<MapUpdateResult> {
    if (key === '') throw new BrokerError('bad_key', 'map key must not be empty');
    await this.ready();
    const shard = shardFor(this.shards, channel);
    const o = opts.channel;
    const stream = mapHasStream(o);
    const args = [
      key,
      stream ? Math.floor(o.streamSize) : 0,
      stream ? Math.ceil(o.streamTtlMs) : 0,
      Math.ceil(o.metaTtlMs),
      this.pubsubOf(shard, channel),
      bodyPrefix(this.clock.now()),
      tagsBlock(opts.tags),
      opts.tags ? '1' : '0',
      opts.idempotencyKey ? Math.ceil(positive(opts.idempotentResultTtlMs, this.resultTtlMs)) : 0,
    ];
    try {
      const reply = await MAP_REMOVE.run(shard.cmd, [...shard.map.channelKeys(channel), shard.map.result(channel, opts.idempotencyKey ?? '')], args);
      const [offset, epoch, reason] = reply as [number, Buffer, Buffer];
      return updateResult(offset, epoch, reason);
    } catch (err) {
      throw backendError('redis map remove failed', err);
    }
  }

  async readState(channel: string, opts: MapReadStateOptions): Promise<MapStateResult> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    const args = [
      newStreamEpoch(),
      Math.ceil(opts.channel.metaTtlMs),
      opts.revision ? '1' : '0',
      opts.revision?.epoch ?? '',
      opts.key ?? '',
      opts.cursor ?? '',
      opts.limit < 0 ? -1 : Math.floor(opts.limit),
    ];
    let reply: unknown;
    try {
      reply = await MAP_READ_STATE.run(shard.cmd, shard.map.channelKeys(channel), args);
    } catch (err) {
      throw backendError('redis map state read failed', err);
    }
    const [top, epoch, unrecoverable, flat, cursor] = reply as [number, Buffer, number, Buffer[], Buffer];
    const entries: MapPublication[] = [];
    try {
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push(decodeStateValue(flat[i]!.toString(), flat[i + 1]!));
    } catch (err) {
      throw backendError('redis map state is not in the expected format', err);
    }
    return { entries, position: { offset: Number(top), epoch: epoch.toString() }, cursor: cursor.toString(), unrecoverable: Number(unrecoverable) === 1 };
  }

  async readStream(channel: string, opts: MapReadStreamOptions): Promise<MapStreamResult> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    const args = [
      newStreamEpoch(),
      Math.ceil(opts.channel.metaTtlMs),
      opts.since ? Math.floor(opts.since.offset) : '',
      opts.since?.epoch ?? '',
      opts.limit < 0 ? -1 : Math.floor(opts.limit),
      opts.reverse ? '1' : '0',
    ];
    let reply: unknown;
    try {
      reply = await MAP_READ_STREAM.run(shard.cmd, shard.map.channelKeys(channel), args);
    } catch (err) {
      throw backendError('redis map stream read failed', err);
    }
    const [top, epoch, unrecoverable, entries] = reply as [number, Buffer, number, [Buffer, Buffer[]][]];
    let publications: MapPublication[];
    try {
      publications = entries.map((e) => decodeStreamEntry(e));
    } catch (err) {
      throw backendError('redis map stream is not in the expected format', err);
    }
    return {
      publications,
      position: { offset: Number(top), epoch: epoch.toString() },
      unrecoverable: Number(unrecoverable) === 1,
    };
  }

  async stats(channel: string): Promise<MapStats> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    try {
      return { numKeys: await shard.cmd.hlen(shard.map.channelKeys(channel)[2]!) };
    } catch (err) {
      throw backendError('redis map stats failed', err);
    }
  }

  /** Deletes every key of the channel; idempotency results of the old epoch are ignored from then on. */
  async clear(channel: string): Promise<void> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    try {
      await shard.cmd.del(...shard.map.channelKeys(channel));
      await shard.cmd.zrem(shard.map.cleanup(), channel);
    } catch (err) {
      throw backendError('redis map clear failed', err);
    }
  }

  /**
   * One cleanup pass over every shard: channels whose earliest key expiry passed (by Redis time) get
   * their expired keys removed. Runs from the timer; exposed so tests can drive it.
   */
  async cleanup(): Promise<void> {
    if (this.cleaning || this.closed) return;
    this.cleaning = true;
    try {
      const failures = await Promise.all(
        this.shards.map((s) =>
          this.cleanupShard(s).then(
            () => false,
            (err: unknown) => {
              // One warning per outage; while Redis stays down every tick fails the same way.
              if (this.cleanupFailing) this.logger?.debug({ err }, 'redis map cleanup failed');
              else this.logger?.warn({ err }, 'redis map cleanup failed');
              return true;
            },
          ),
        ),
      );
      this.cleanupFailing = failures.some(Boolean);
    } finally {
      this.cleaning = false;
    }
  }

  /** Stops the cleanup and closes every connection; later calls reject with `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.shards.map((s) => s.sub.close()));
    disconnectShards(this.shards);
  }

  private async cleanupShard(shard: Shard): Promise<void> {
    for (let page = 0; page < CLEANUP_MAX_PAGES && !this.closed; page++) {
      const now = await redisNow(shard.cmd);
      const due = await shard.cmd.zrangebyscore(shard.map.cleanup(), '-inf', now, 'LIMIT', 0, CLEANUP_PAGE);
      for (const channel of due) await this.expireChannel(shard, channel);
      if (due.length < CLEANUP_PAGE) return;
    }
  }

  /**
   * Removes the channel's expired keys, then records its next expiry. Publishers lower the
   * registration with ZADD LT after their script; re-reading the channel's earliest expiry after
   * the plain ZADD here closes the race with a publish that ran between the two.
   */
  private async expireChannel(shard: Shard, channel: string): Promise<void> {
    const keys = shard.map.channelKeys(channel);
    const reply = (await MAP_EXPIRE.run(shard.cmd, keys, [this.batch, bodyPrefix(this.clock.now()), this.pubsubOf(shard, channel)])) as [number, number | Buffer];
    const next = Number(reply[1]);
    if (next < 0) await shard.cmd.zrem(shard.map.cleanup(), channel);
    else await shard.cmd.zadd(shard.map.cleanup(), next, channel);
    const earliest = await shard.cmd.zrange(keys[4]!, 0, 0, 'WITHSCORES');
    if (earliest[1] !== undefined && (next < 0 || Number(earliest[1]) < next)) await shard.cmd.zadd(shard.map.cleanup(), 'LT', earliest[1], channel);
  }

  /**
   * Puts the channel on the shard's cleanup set at `expireAt` unless an earlier time is there
   * already. Only for cluster shards, where the set lives in another slot than the channel's keys;
   * elsewhere the publish script registers atomically.
   */
  private async register(shard: Shard, channel: string, expireAt: number): Promise<void> {
    try {
      await shard.cmd.zadd(shard.map.cleanup(), 'LT', expireAt, channel);
    } catch (err) {
      // The write itself succeeded; failing it now would invite a duplicate retry.
      this.logger?.warn({ err, channel }, 'redis map cleanup registration failed');
    }
  }

  private pubsubOf(shard: Shard, channel: string): string {
    return this.skipPubSub ? '' : shard.map.pubsub(channel);
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'redis map broker is closed');
  }

  /** Connects every shard once; a failed attempt is forgotten so that a later call tries again. */
  private connect(): Promise<void> {
    return this.connector.connect();
  }

  private async ready(): Promise<void> {
    this.ensureOpen();
    await this.connect().catch(() => undefined);
  }

  private onMessage(keys: RedisMapKeys, name: string, message: Buffer): void {
    const handler = this.handler;
    if (!handler) return;
    const channel = keys.channelOf(name);
    try {
      const f = decodeMapFrame(message);
      handler.handleMapPublication(channel, f.pub, f.position, f.delta, f.prev);
    } catch (err) {
      this.pubSubErrors.handle_client_message++;
      this.logger?.warn({ err, channel }, 'redis map pub/sub message dropped');
    }
  }
}

function positive(ms: number | undefined, fallback: number): number {
  return ms && ms > 0 ? ms : fallback;
}

function updateResult(offset: number, epoch: Buffer, reason: Buffer): MapUpdateResult {
  const suppressReason = reason.toString() as MapSuppressReason;
  return { position: { offset: Number(offset), epoch: epoch.toString() }, suppressed: suppressReason !== '', suppressReason };
}

async function redisNow(cmd: RedisClient): Promise<number> {
  const [sec, usec] = (await cmd.time()) as [string | number, string | number];
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}
