import type {
  Broker,
  BrokerEventHandler,
  BrokerPublication,
  Clock,
  HistoryOptions,
  HistoryResult,
  PublishOptions,
  PublishResult,
  StreamPosition,
} from '../../core/index.js';
import { systemClock } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { BrokerError } from '../errors.js';
import { MemoryStream, newEpoch } from './memory-stream.js';

/** Default stream meta lifetime: 720h, Centrifugo's `channel.history_meta_ttl` default. */
export const DEFAULT_HISTORY_META_TTL_MS = 720 * 3600 * 1000;
/** Default lifetime of a remembered idempotent publish result: 5 minutes. */
export const DEFAULT_IDEMPOTENT_RESULT_TTL_MS = 5 * 60 * 1000;
/** Default period of the expiry sweep. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000;

/** Options of a MemoryBroker. */
export interface MemoryBrokerOptions {
  /** Time source for publish times and expiry; defaults to the system clock. */
  clock?: Clock;
  /** Meta lifetime when a publish or read gives none (or 0); default 720h. */
  defaultHistoryMetaTtlMs?: number;
  /** Period of the sweep that frees expired streams and idempotency results; 0 disables it. Default 10s. */
  sweepIntervalMs?: number;
}

interface IdempotentResult {
  position: StreamPosition;
  expiresAt: number;
}

const ZERO_EPOCH = '';

/**
 * Single-node broker keeping channel streams in process memory (subscriptions.md §1.1). Delivery
 * is synchronous: the handler sees a publication before `publish` resolves, so per-channel order
 * equals call order. Expiry is checked lazily on every access; a periodic unref'd sweep frees
 * memory of streams nobody touches. Handlers must not mutate delivered publications: the stored
 * object itself is handed over (except the offset-1 copy that carries the epoch).
 */
export class MemoryBroker implements Broker {
  readonly reliable = true;
  private readonly clock: Clock;
  private readonly defaultMetaTtlMs: number;
  private handler: BrokerEventHandler | undefined;
  private readonly subscribed = new Set<string>();
  private readonly streams = new Map<string, MemoryStream>();
  // Keyed by channel + NUL + idempotency key: channel names cannot contain NUL on the wire path we serve.
  private readonly idempotent = new Map<string, IdempotentResult>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: MemoryBrokerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.defaultMetaTtlMs = opts.defaultHistoryMetaTtlMs && opts.defaultHistoryMetaTtlMs > 0 ? opts.defaultHistoryMetaTtlMs : DEFAULT_HISTORY_META_TTL_MS;
    const sweepMs = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (sweepMs > 0) {
      this.timer = setInterval(() => this.sweep(), sweepMs);
      this.timer.unref();
    }
  }

  /** Sets the handler that receives deliveries for subscribed channels. */
  async run(handler: BrokerEventHandler): Promise<void> {
    this.ensureOpen();
    this.handler = handler;
  }

  /** Marks the channel as wanted by this node. Idempotent. */
  async subscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.add(channel);
  }

  /** Stops deliveries for the channel. Idempotent. */
  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.delete(channel);
  }

  /**
   * Saves (when historySize and historyTtlMs are both > 0) and delivers one publication. An
   * idempotent repeat or a version-suppressed publication resolves with `suppressed: true` and is
   * neither saved nor delivered. A handler exception rejects the promise after the save.
   */
  async publish(channel: string, data: Uint8Array, opts: PublishOptions): Promise<PublishResult> {
    this.ensureOpen();
    const now = this.clock.now();
    const idemKey = opts.idempotencyKey ? `${channel}\u0000${opts.idempotencyKey}` : undefined;
    if (idemKey !== undefined) {
      const cached = this.idempotent.get(idemKey);
      if (cached && cached.expiresAt > now) return { position: { ...cached.position }, suppressed: true, suppressReason: 'idempotency' };
    }

    const pub: BrokerPublication = { data, offset: 0, time: now };
    if (opts.clientInfo) pub.info = opts.clientInfo;
    if (opts.tags) pub.tags = opts.tags;
    const delta = opts.delta === true;
    const historySize = opts.historySize ?? 0;
    const historyTtlMs = opts.historyTtlMs ?? 0;

    if (historySize <= 0 || historyTtlMs <= 0) {
      this.remember(idemKey, { offset: 0, epoch: ZERO_EPOCH }, now, opts);
      this.deliver(channel, pub, { offset: 0, epoch: ZERO_EPOCH }, delta, undefined);
      return { position: { offset: 0, epoch: ZERO_EPOCH }, suppressed: false };
    }

    const stream = this.touch(channel, now);
    const version = opts.version ?? 0;
    if (version > 0) {
      const versionEpoch = opts.versionEpoch ?? '';
      const sameEpoch = versionEpoch === '' || versionEpoch === stream.versionEpoch;
      if (stream.version > 0 && sameEpoch && version <= stream.version) {
        return { position: { offset: stream.top, epoch: stream.epoch }, suppressed: true, suppressReason: 'version' };
      }
      stream.version = version;
      stream.versionEpoch = versionEpoch;
    }

    // Kept for history_ttl: a small view into a shared pool slab (decoded commands, API bodies)
    // would keep the whole slab alive, so a view gets its own exact-size copy.
    if (data.byteLength !== data.buffer.byteLength) pub.data = new Uint8Array(data);
    const prev = delta ? stream.last() : undefined;
    pub.offset = stream.top + 1;
    stream.append(pub, historySize);
    stream.dataExpiresAt = now + historyTtlMs;
    stream.metaExpiresAt = now + this.metaTtl(opts.historyMetaTtlMs);
    const position: StreamPosition = { offset: pub.offset, epoch: stream.epoch };
    this.remember(idemKey, position, now, opts);
    // The first publication of a stream tells live subscribers the epoch; history never carries it.
    const delivered = pub.offset === 1 ? { ...pub, epoch: stream.epoch } : pub;
    this.deliver(channel, delivered, { ...position }, delta, prev);
    return { position, suppressed: false };
  }

  /** Delivers a join to the handler when this node subscribed to the channel. */
  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.ensureOpen();
    if (this.handler && this.subscribed.has(channel)) this.handler.handleJoin(channel, info);
  }

  /** Delivers a leave to the handler when this node subscribed to the channel. */
  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    this.ensureOpen();
    if (this.handler && this.subscribed.has(channel)) this.handler.handleLeave(channel, info);
  }

  /**
   * Reads history per subscriptions.md §1.10, creating the stream (new epoch, top 0) when missing
   * and pushing its meta expiry to now + metaTtlMs. Never fails on an epoch in `since` that differs
   * from the current one: the returned position lets the caller decide.
   */
  async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    this.ensureOpen();
    const now = this.clock.now();
    const stream = this.touch(channel, now);
    stream.metaExpiresAt = now + this.metaTtl(opts.metaTtlMs);
    const position: StreamPosition = { offset: stream.top, epoch: stream.epoch };
    const { limit, since, reverse } = opts.filter;
    if (limit === 0 || stream.size === 0) return { publications: [], position };
    const max = limit < 0 ? Number.POSITIVE_INFINITY : limit;
    const oldest = stream.oldest;
    const publications: BrokerPublication[] = [];
    if (!reverse) {
      // A since older than the oldest retained entry starts from the oldest: history does not detect gaps.
      const from = Math.max(since ? since.offset + 1 : oldest, oldest);
      for (let o = from; o <= stream.top && publications.length < max; o++) {
        const pub = stream.at(o);
        if (pub) publications.push(pub);
      }
    } else {
      const from = since ? since.offset - 1 : stream.top;
      if (from < oldest || from > stream.top) return { publications, position };
      for (let o = from; o >= oldest && publications.length < max; o--) {
        const pub = stream.at(o);
        if (pub) publications.push(pub);
      }
    }
    return { publications, position };
  }

  /** Drops the channel's publications, keeping its epoch and top offset. */
  async removeHistory(channel: string): Promise<void> {
    this.ensureOpen();
    const stream = this.live(channel, this.clock.now());
    stream?.clear();
  }

  /**
   * Drops expired streams and idempotency results and empties data-expired streams. The periodic
   * timer calls this; correctness never depends on it because every access checks expiry too.
   */
  sweep(): void {
    const now = this.clock.now();
    for (const [channel, stream] of this.streams) {
      if (now >= stream.metaExpiresAt) this.streams.delete(channel);
      else if (now >= stream.dataExpiresAt) stream.clear();
    }
    for (const [key, result] of this.idempotent) {
      if (now >= result.expiresAt) this.idempotent.delete(key);
    }
  }

  /** Stops the sweep and forgets everything; later calls reject with code `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.handler = undefined;
    this.subscribed.clear();
    this.streams.clear();
    this.idempotent.clear();
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'memory broker is closed');
  }

  private metaTtl(ms: number | undefined): number {
    return ms && ms > 0 ? ms : this.defaultMetaTtlMs;
  }

  /** The channel's stream after applying expiry, or undefined when it does not exist. */
  private live(channel: string, now: number): MemoryStream | undefined {
    const stream = this.streams.get(channel);
    if (!stream) return undefined;
    if (now >= stream.metaExpiresAt) {
      this.streams.delete(channel);
      return undefined;
    }
    if (now >= stream.dataExpiresAt) stream.clear();
    return stream;
  }

  /** The channel's live stream, created with a new epoch and default meta lifetime when missing. */
  private touch(channel: string, now: number): MemoryStream {
    let stream = this.live(channel, now);
    if (!stream) {
      stream = new MemoryStream(newEpoch(), now + this.defaultMetaTtlMs);
      this.streams.set(channel, stream);
    }
    return stream;
  }

  private remember(key: string | undefined, position: StreamPosition, now: number, opts: PublishOptions): void {
    if (key === undefined) return;
    const ttl = opts.idempotentResultTtlMs && opts.idempotentResultTtlMs > 0 ? opts.idempotentResultTtlMs : DEFAULT_IDEMPOTENT_RESULT_TTL_MS;
    this.idempotent.set(key, { position: { ...position }, expiresAt: now + ttl });
  }

  private deliver(channel: string, pub: BrokerPublication, position: StreamPosition, delta: boolean, prev: BrokerPublication | undefined): void {
    if (this.handler && this.subscribed.has(channel)) this.handler.handlePublication(channel, pub, position, delta, prev);
  }
}
