import type {
  Broker,
  BrokerEventHandler,
  Controller,
  BrokerPublication,
  Clock,
  HistoryFilter,
  HistoryOptions,
  HistoryResult,
  Logger,
  PublishOptions,
  PublishResult,
} from '../../core/index.js';
import { holdFlush, systemClock } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { decodeBody, decodeFrame, encodeBody, joinLeaveFrame, liveFrame } from '../envelope.js';
import { newStreamEpoch } from '../epoch.js';
import { BrokerError } from '../errors.js';
import { backendError, createSubscriberConnection, ShardsConnector } from './connection.js';
import type { RedisBrokerOptions } from './options.js';
import { PUBLISH_HISTORY, PUBLISH_LIVE, READ_HISTORY } from './scripts.js';
import { buildShards, disconnectShards, shardFor } from './shards.js';
import type { RedisShard } from './shards.js';
import { pubSubErrorCounts, RedisSubscriber, type PubSubErrorCounts } from './subscriber.js';

/** Default stream meta lifetime: 720h, Centrifugo's `channel.history_meta_ttl` default. */
export const REDIS_DEFAULT_HISTORY_META_TTL_MS = 720 * 3600 * 1000;
/** Default lifetime of a remembered idempotent publish result: 5 minutes. */
export const REDIS_DEFAULT_IDEMPOTENT_RESULT_TTL_MS = 5 * 60 * 1000;

interface BrokerShard extends RedisShard {
  readonly sub: RedisSubscriber;
}

const ZERO = { offset: 0, epoch: '' } as const;

/**
 * Broker over Redis (server.md §6.2): history in a Stream (or a List) plus a meta hash, written by
 * Lua scripts that also PUBLISH the framed publication, so save and fan-out are one atomic step per
 * channel and live delivery follows offset order. Several shards split channels by consistent hash;
 * Redis Cluster and Sentinel are supported per shard. Delivery is at most once over PUB/SUB
 * (`reliable = false`): a node misses what was published while its PUB/SUB connection was down.
 * While Redis is unreachable every call rejects with code `backend_error` at once. Also the
 * node-to-node Controller, over `<prefix>.control` and `<prefix>.node.<id>` on the first shard.
 */
export class RedisBroker implements Broker, Controller {
  readonly reliable = false;
  /** PUB/SUB failures of every shard since start (Prometheus samples them). */
  readonly pubSubErrors: PubSubErrorCounts = pubSubErrorCounts();
  private readonly shards: BrokerShard[];
  private readonly lists: boolean;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly defaultMetaTtlMs: number;
  private handler: BrokerEventHandler | undefined;
  private control: { names: Set<string>; handler: (msg: Uint8Array) => void } | undefined;
  private readonly connector: ShardsConnector;
  private closed = false;

  constructor(opts: RedisBrokerOptions = {}) {
    this.lists = opts.history_use_lists === true;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    this.defaultMetaTtlMs = opts.defaultHistoryMetaTtlMs && opts.defaultHistoryMetaTtlMs > 0 ? opts.defaultHistoryMetaTtlMs : REDIS_DEFAULT_HISTORY_META_TTL_MS;
    this.shards = buildShards(opts, this.logger).map((shard) => {
      const sub = new RedisSubscriber(
        (attempt) => createSubscriberConnection(shard.spec, attempt, shard.cmd),
        (name, message) => this.onMessage(shard, name, message),
        this.logger,
        this.pubSubErrors,
      );
      return { ...shard, sub };
    });
    this.connector = new ShardsConnector(this.shards);
  }

  /** Connects every shard (commands and PUB/SUB); rejects with `backend_error` when one is unreachable. */
  async run(handler: BrokerEventHandler): Promise<void> {
    this.ensureOpen();
    this.handler = handler;
    await this.connect();
  }

  /** Subscribes this node to the channel's PUB/SUB; resolves once Redis confirmed. Idempotent. */
  async subscribe(channel: string): Promise<void> {
    this.ensureOpen();
    const shard = shardFor(this.shards, channel);
    await shard.sub.subscribe(shard.keys.pubsub(channel));
  }

  /** Stops deliveries for the channel at once; the UNSUBSCRIBE follows. Idempotent. */
  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    const shard = shardFor(this.shards, channel);
    await shard.sub.unsubscribe(shard.keys.pubsub(channel));
  }

  /**
   * Saves (when historySize and historyTtlMs are both > 0) and publishes one publication in one
   * script. Idempotent repeats and version-suppressed publications resolve with `suppressed: true`
   * and are neither saved nor published.
   */
  async publish(channel: string, data: Uint8Array, opts: PublishOptions): Promise<PublishResult> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    const body = encodeBody(data, this.clock.now(), opts.clientInfo, opts.tags);
    const delta = opts.delta === true;
    const resultTtl = opts.idempotencyKey ? Math.ceil(positive(opts.idempotentResultTtlMs, REDIS_DEFAULT_IDEMPOTENT_RESULT_TTL_MS)) : 0;
    const resultKey = shard.keys.result(channel, opts.idempotencyKey ?? '');
    const pubsub = shard.keys.pubsub(channel);
    const historySize = opts.historySize ?? 0;
    const historyTtlMs = opts.historyTtlMs ?? 0;
    // This node receives its own publication back over PUB/SUB about when the reply arrives:
    // writes due meanwhile wait for it, so overlapping publishes share one write per connection.
    const release = shard.sub.wants(pubsub) ? holdFlush() : undefined;
    try {
      if (historySize <= 0 || historyTtlMs <= 0) {
        const frame = liveFrame(body, delta);
        if (resultTtl === 0) {
          await this.publishFrame(shard, channel, frame);
          return { position: { ...ZERO }, suppressed: false };
        }
        return publishResult(await PUBLISH_LIVE.run(shard.cmd, [resultKey], [frame, pubsub, resultTtl]));
      }
      const keys = [shard.keys.data(channel, this.lists), shard.keys.meta(channel, this.lists), resultKey];
      const args = [
        body,
        Math.floor(historySize),
        Math.ceil(historyTtlMs),
        Math.ceil(positive(opts.historyMetaTtlMs, this.defaultMetaTtlMs)),
        newStreamEpoch(),
        pubsub,
        delta ? '1' : '0',
        opts.version && opts.version > 0 ? opts.version : 0,
        opts.versionEpoch ?? '',
        resultTtl,
        this.lists ? 'l' : 's',
      ];
      return publishResult(await PUBLISH_HISTORY.run(shard.cmd, keys, args));
    } catch (err) {
      throw backendError('redis publish failed', err);
    } finally {
      release?.();
    }
  }

  /** Publishes a join to every node subscribed to the channel. */
  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    await this.publishFrame(shard, channel, joinLeaveFrame('join', info)).catch((err: unknown) => {
      throw backendError('redis join publish failed', err);
    });
  }

  /** Publishes a leave to every node subscribed to the channel. */
  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    await this.publishFrame(shard, channel, joinLeaveFrame('leave', info)).catch((err: unknown) => {
      throw backendError('redis leave publish failed', err);
    });
  }

  /**
   * Reads history per subscriptions.md §1.10, creating the stream (new epoch, top 0) when its meta
   * is missing and pushing the meta expiry to now + metaTtlMs. List mode reads the whole list and
   * applies the same filters here.
   */
  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    const { limit, since, reverse } = opts.filter;
    const keys = [shard.keys.data(channel, this.lists), shard.keys.meta(channel, this.lists)];
    const args = [newStreamEpoch(), Math.ceil(positive(opts.metaTtlMs, this.defaultMetaTtlMs)), this.lists ? 'l' : 's', limit < 0 ? -1 : Math.floor(limit), since ? since.offset : '', reverse ? '1' : '0'];
    let reply: unknown;
    try {
      reply = await READ_HISTORY.run(shard.cmd, keys, args);
    } catch (err) {
      throw backendError('redis history read failed', err);
    }
    const [top, epoch, entries] = reply as [number, Buffer, unknown[]];
    const position = { offset: Number(top), epoch: epoch.toString() };
    if (this.lists) return { publications: filterList(entries as Buffer[], position.offset, opts.filter), position };
    const publications = (entries as [Buffer, Buffer[]][]).map(([id, fields]) => decodeBody(fields[1]!, parseInt(id.toString(), 10)));
    return { publications, position };
  }

  /** Drops the channel's publications, keeping its epoch and top offset (the meta hash). */
  async removeHistory(channel: string): Promise<void> {
    await this.ready();
    const shard = shardFor(this.shards, channel);
    try {
      await shard.cmd.del(shard.keys.data(channel, this.lists));
    } catch (err) {
      throw backendError('redis history remove failed', err);
    }
  }

  /** Subscribes to broadcast control messages and to those addressed to `nodeId` (first shard). */
  async runControl(nodeId: string, handler: (msg: Uint8Array) => void): Promise<void> {
    this.ensureOpen();
    await this.connect();
    const shard = this.shards[0]!;
    const names = [shard.keys.control(), shard.keys.node(nodeId)];
    this.control = { names: new Set(names), handler };
    await Promise.all(names.map((n) => shard.sub.subscribe(n)));
  }

  /** Publishes a control message to every node, or to `toNode` only. At most once. */
  async publishControl(msg: Uint8Array, toNode?: string): Promise<void> {
    await this.ready();
    const shard = this.shards[0]!;
    try {
      await shard.cmd.publish(toNode === undefined ? shard.keys.control() : shard.keys.node(toNode), Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
    } catch (err) {
      throw backendError('redis control publish failed', err);
    }
  }

  /** Closes every connection; later calls reject with code `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    this.control = undefined;
    await Promise.all(this.shards.map((s) => s.sub.close()));
    disconnectShards(this.shards);
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'redis broker is closed');
  }

  /** The first connection of every shard, started once (by run, or by the first call without run). */
  private connect(): Promise<void> {
    return this.connector.connect();
  }

  /** Waits for a first connection still under way; later outages make commands reject at once. */
  private async ready(): Promise<void> {
    this.ensureOpen();
    await this.connect().catch(() => undefined);
  }

  /** PUBLISH of a ready frame; on a cluster through a script so it runs on the channel's slot owner, in order with scripted publishes. */
  private async publishFrame(shard: BrokerShard, channel: string, frame: Buffer): Promise<void> {
    const pubsub = shard.keys.pubsub(channel);
    if (shard.spec.mode === 'cluster') await PUBLISH_LIVE.run(shard.cmd, [shard.keys.result(channel, '')], [frame, pubsub, 0]);
    else await shard.cmd.publish(pubsub, frame);
  }

  private onMessage(shard: RedisShard, name: string, message: Buffer): void {
    if (this.control?.names.has(name)) {
      try {
        this.control.handler(message);
      } catch (err) {
        this.logger?.warn({ err }, 'redis control handler failed');
      }
      return;
    }
    const handler = this.handler;
    if (!handler) return;
    const start = shard.keys.prefix.length + '.client.'.length;
    const channel = shard.spec.mode === 'cluster' ? name.slice(start + 1, -1) : name.slice(start);
    try {
      const frame = decodeFrame(message);
      if (frame.kind === 'pub') handler.handlePublication(channel, frame.pub, frame.position, frame.delta, frame.prev);
      else if (frame.kind === 'join') handler.handleJoin(channel, frame.info);
      else handler.handleLeave(channel, frame.info);
    } catch (err) {
      this.pubSubErrors.handle_client_message++;
      this.logger?.warn({ err, channel }, 'redis pub/sub message dropped');
    }
  }
}

function positive(ms: number | undefined, fallback: number): number {
  return ms && ms > 0 ? ms : fallback;
}

function publishResult(reply: unknown): PublishResult {
  const [offset, epoch, suppressed] = reply as [number, Buffer, number];
  const position = { offset: Number(offset), epoch: epoch.toString() };
  // The scripts answer 1 for an idempotent repeat, 2 for a version suppression.
  if (suppressed === 0) return { position, suppressed: false };
  return { position, suppressed: true, suppressReason: Number(suppressed) === 2 ? 'version' : 'idempotency' };
}

/** History filters over a whole list (items `offset:body`, newest first), as the memory broker applies them. */
function filterList(items: Buffer[], top: number, filter: HistoryFilter): BrokerPublication[] {
  const entries = items.map((item) => {
    const colon = item.indexOf(0x3a);
    return { offset: parseInt(item.toString('latin1', 0, colon), 10), item, start: colon + 1 };
  });
  entries.reverse();
  const first = entries[0];
  if (!first || filter.limit === 0) return [];
  const max = filter.limit < 0 ? Number.POSITIVE_INFINITY : filter.limit;
  const oldest = first.offset;
  let picked: typeof entries;
  if (!filter.reverse) {
    const from = Math.max(filter.since ? filter.since.offset + 1 : oldest, oldest);
    picked = entries.filter((e) => e.offset >= from).slice(0, max);
  } else {
    const from = filter.since ? filter.since.offset - 1 : top;
    if (from < oldest || from > top) return [];
    picked = entries.filter((e) => e.offset <= from).reverse().slice(0, max);
  }
  return picked.map((e) => decodeBody(e.item, e.offset, e.start));
}
