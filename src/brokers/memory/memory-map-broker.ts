import type {
  Clock,
  MapBroker,
  MapBrokerEventHandler,
  MapChannelOptions,
  MapPublication,
  MapPublishOptions,
  MapReadStateOptions,
  MapReadStreamOptions,
  MapRemoveOptions,
  MapStateResult,
  MapStats,
  MapStreamResult,
  MapUpdateResult,
  StreamPosition,
} from '../../core/index.js';
import { mapHasStream, systemClock } from '../../core/index.js';
import { BrokerError } from '../errors.js';
import { DEFAULT_IDEMPOTENT_RESULT_TTL_MS } from './memory-broker.js';
import { MemoryMapChannel } from './memory-map-channel.js';
import { newEpoch } from './memory-stream.js';

/** Default period of the sweep that expires keys, streams and idle channels: 1 s. */
export const DEFAULT_MAP_SWEEP_INTERVAL_MS = 1000;

/** Options of a MemoryMapBroker. */
export interface MemoryMapBrokerOptions {
  /** Time source of publication times and every expiry; defaults to the system clock. */
  clock?: Clock;
  /** Period of the expiry sweep; 0 disables it (expiry then happens only when a channel is accessed). Default 1 s. */
  sweepIntervalMs?: number;
}

const EMPTY = new Uint8Array(0);
const INF = Number.POSITIVE_INFINITY;

/**
 * Single-node MapBroker in process memory (subscriptions.md §5.1). Every operation runs to the end
 * within one synchronous step, so a state read, a stream read and a write never interleave: the
 * position a read returns is exactly the last write it reflects. Delivery is synchronous, before
 * the write's promise resolves, in offset order. Key TTLs, stream_ttl and meta_ttl are applied
 * lazily whenever a channel is touched and by an unref'd sweep (default every second), which also
 * announces expired keys. Memory is bounded by the channel options: stream_size per stream, key_ttl
 * and meta_ttl for expiring modes; persistent maps keep their keys until removed or cleared.
 * Delivered and returned publications are the stored objects: do not mutate them.
 */
export class MemoryMapBroker implements MapBroker {
  readonly reliable = true;
  private readonly clock: Clock;
  private readonly channels = new Map<string, MemoryMapChannel>();
  private readonly subscribed = new Set<string>();
  private handler: MapBrokerEventHandler | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly sweepMs: number;
  private closed = false;

  constructor(opts: MemoryMapBrokerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.sweepMs = opts.sweepIntervalMs ?? DEFAULT_MAP_SWEEP_INTERVAL_MS;
  }

  /** Sets the handler of live changes and starts the sweep. */
  async run(handler: MapBrokerEventHandler): Promise<void> {
    this.ensureOpen();
    this.handler = handler;
    if (this.sweepMs > 0 && !this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }

  async subscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    this.subscribed.delete(channel);
  }

  /** Writes a key: idempotency, then version, then key mode decide; applied writes are stored, streamed and delivered at once. */
  async publish(channel: string, key: string, opts: MapPublishOptions): Promise<MapUpdateResult> {
    this.ensureOpen();
    if (key === '') throw new BrokerError('bad_key', 'map key must not be empty');
    const now = this.clock.now();
    const ch = this.access(channel, now, opts.channel, true)!;
    if (opts.idempotencyKey) {
      const cached = ch.idempotentResult(opts.idempotencyKey, now);
      if (cached) return suppressed(cached, 'idempotency');
    }
    const stream = mapHasStream(opts.channel);
    const existing = ch.entries.get(key);
    const version = opts.version && opts.version > 0 ? opts.version : 0;
    const versionEpoch = opts.versionEpoch ?? '';
    if (stream && version > 0 && existing && (versionEpoch === '' || versionEpoch === existing.versionEpoch) && version <= existing.version) {
      return suppressed(ch.position(), 'version');
    }
    if (opts.keyMode === 'if_new' && existing) {
      if (opts.refreshTtlOnSuppress && opts.channel.keyTtlMs > 0) ch.refresh(key, now + opts.channel.keyTtlMs);
      return suppressed(ch.position(), 'key_exists');
    }
    if (opts.keyMode === 'if_exists' && !existing) return suppressed(ch.position(), 'key_not_found');

    // A view into a pooled slab would pin the whole slab for as long as the entry lives.
    const data = opts.data.byteLength !== opts.data.buffer.byteLength ? new Uint8Array(opts.data) : opts.data;
    const pub: MapPublication = { key, data, offset: 0, time: now };
    if (opts.clientInfo) pub.info = opts.clientInfo;
    if (hasKeys(opts.tags)) pub.tags = opts.tags;
    if (stream) this.append(ch, pub, now);
    ch.set(key, {
      pub,
      expiresAt: opts.channel.keyTtlMs > 0 ? now + opts.channel.keyTtlMs : INF,
      version: version > 0 ? version : (existing?.version ?? 0),
      versionEpoch: version > 0 ? versionEpoch : (existing?.versionEpoch ?? ''),
    });
    const position = ch.position();
    if (opts.idempotencyKey) ch.remember(opts.idempotencyKey, position, now + idempotentTtl(opts.idempotentResultTtlMs));
    const delta = opts.delta === true;
    this.deliver(channel, ch, pub, delta, delta ? existing?.pub : undefined);
    return { position, suppressed: false, suppressReason: '' };
  }

  /** Removes a key, streaming and delivering a removal that carries the entry's (or the given) tags. */
  async remove(channel: string, key: string, opts: MapRemoveOptions): Promise<MapUpdateResult> {
    this.ensureOpen();
    if (key === '') throw new BrokerError('bad_key', 'map key must not be empty');
    const now = this.clock.now();
    const ch = this.access(channel, now, opts.channel, false);
    if (!ch) return suppressed({ offset: 0, epoch: '' }, 'key_not_found');
    if (opts.idempotencyKey) {
      const cached = ch.idempotentResult(opts.idempotencyKey, now);
      if (cached) return suppressed(cached, 'idempotency');
    }
    const entry = ch.delete(key);
    if (!entry) return suppressed(ch.position(), 'key_not_found');
    const pub = this.removal(ch, key, opts.tags ?? entry.pub.tags, now, mapHasStream(opts.channel));
    const position = ch.position();
    if (opts.idempotencyKey) ch.remember(opts.idempotencyKey, position, now + idempotentTtl(opts.idempotentResultTtlMs));
    this.deliver(channel, ch, pub, false, undefined);
    return { position, suppressed: false, suppressReason: '' };
  }

  /** One atomic page of state with the position it was read at. */
  async readState(channel: string, opts: MapReadStateOptions): Promise<MapStateResult> {
    this.ensureOpen();
    const ch = this.access(channel, this.clock.now(), opts.channel, true)!;
    const position = ch.position();
    if (opts.revision && opts.revision.epoch !== position.epoch) return { entries: [], position, cursor: '', unrecoverable: true };
    if (opts.key !== undefined && opts.key !== '') {
      const e = ch.entries.get(opts.key);
      return { entries: e ? [e.pub] : [], position, cursor: '', unrecoverable: false };
    }
    if (opts.limit === 0) return { entries: [], position, cursor: '', unrecoverable: false };
    const { keys, more } = ch.page(opts.cursor ?? '', opts.limit);
    const entries = keys.map((k) => ch.entries.get(k)!.pub);
    return { entries, position, cursor: more && keys.length > 0 ? keys[keys.length - 1]! : '', unrecoverable: false };
  }

  /** Reads the change stream like history, reporting a position that cannot be continued from. */
  async readStream(channel: string, opts: MapReadStreamOptions): Promise<MapStreamResult> {
    this.ensureOpen();
    const ch = this.access(channel, this.clock.now(), opts.channel, true)!;
    const position = ch.position();
    const stream = ch.stream;
    const { since, limit, reverse } = opts;
    const none = (unrecoverable: boolean): MapStreamResult => ({ publications: [], position, unrecoverable });
    if (since && since.epoch !== '' && since.epoch !== position.epoch) return none(true);
    if (!reverse && since && (since.offset > stream.top || (since.offset < stream.top && stream.oldest > since.offset + 1))) return none(true);
    if (limit === 0 || stream.size === 0) return none(false);
    const max = limit < 0 ? INF : limit;
    const publications: MapPublication[] = [];
    if (!reverse) {
      for (let o = Math.max(since ? since.offset + 1 : stream.oldest, stream.oldest); o <= stream.top && publications.length < max; o++) {
        publications.push(stream.at(o)!);
      }
    } else {
      const from = since ? since.offset - 1 : stream.top;
      for (let o = Math.min(from, stream.top); o >= stream.oldest && publications.length < max; o--) publications.push(stream.at(o)!);
    }
    return { publications, position, unrecoverable: false };
  }

  /** Channels held, expired ones not yet swept included (diagnostics and tests). */
  get channelCount(): number {
    return this.channels.size;
  }

  async stats(channel: string): Promise<MapStats> {
    this.ensureOpen();
    const ch = this.access(channel, this.clock.now(), undefined, false);
    return { numKeys: ch ? ch.entries.size : 0 };
  }

  async clear(channel: string): Promise<void> {
    this.ensureOpen();
    this.channels.delete(channel);
  }

  /**
   * Applies every due expiry: stream data past stream_ttl, keys past key_ttl (each announced as a
   * removal), channels idle past meta_ttl, idempotency results. The periodic timer calls it.
   */
  sweep(): void {
    if (this.closed) return;
    const now = this.clock.now();
    // Deleting the current entry while iterating a Map is safe; access() never adds one here.
    for (const name of this.channels.keys()) this.access(name, now, undefined, false);
  }

  /** Stops the sweep and forgets everything; later calls reject with code `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.handler = undefined;
    this.subscribed.clear();
    this.channels.clear();
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'memory map broker is closed');
  }

  /**
   * The channel after applying its expiries at `now`, created (new epoch) when missing and `create`
   * is set. With `opts` (a read or write) the channel's options are updated and its idle deadline
   * pushed to now + meta_ttl.
   */
  private access(name: string, now: number, opts: MapChannelOptions | undefined, create: boolean): MemoryMapChannel | undefined {
    let ch = this.channels.get(name);
    if (ch) {
      if (now >= ch.stream.dataExpiresAt) ch.stream.clear();
      if (ch.hasDue()) this.expireKeys(name, ch, now);
      ch.sweepIdempotent(now);
      if (now >= ch.stream.metaExpiresAt) {
        this.channels.delete(name);
        ch = undefined;
      }
    }
    if (!ch) {
      if (!create || !opts) return undefined;
      ch = new MemoryMapChannel(newEpoch(), opts);
      this.channels.set(name, ch);
    }
    if (opts) {
      ch.opts = opts;
      ch.stream.metaExpiresAt = opts.metaTtlMs > 0 ? now + opts.metaTtlMs : INF;
    }
    return ch;
  }

  /** Removes every key whose TTL passed, in expiry order, streaming (stream modes) and delivering each removal. */
  private expireKeys(name: string, ch: MemoryMapChannel, now: number): void {
    for (let key = ch.popDue(now); key !== undefined; key = ch.popDue(now)) {
      const entry = ch.delete(key)!;
      const pub = this.removal(ch, key, entry.pub.tags, now, mapHasStream(ch.opts));
      try {
        this.deliver(name, ch, pub, false, undefined);
      } catch {
        // A failing handler must not stop expiry of the other keys; live subscribers resync by position.
      }
    }
  }

  private removal(ch: MemoryMapChannel, key: string, tags: Record<string, string> | undefined, now: number, stream: boolean): MapPublication {
    const pub: MapPublication = { key, removed: true, data: EMPTY, offset: 0, time: now };
    if (hasKeys(tags)) pub.tags = tags;
    if (stream) this.append(ch, pub, now);
    return pub;
  }

  private append(ch: MemoryMapChannel, pub: MapPublication, now: number): void {
    pub.offset = ch.stream.top + 1;
    ch.stream.append(pub, ch.opts.streamSize);
    ch.stream.dataExpiresAt = now + ch.opts.streamTtlMs;
  }

  private deliver(name: string, ch: MemoryMapChannel, pub: MapPublication, delta: boolean, prev: MapPublication | undefined): void {
    if (!this.handler || !this.subscribed.has(name)) return;
    const position: StreamPosition = { offset: pub.offset, epoch: ch.epoch };
    // The first change of a stream tells live subscribers the epoch; stored copies never carry it.
    const delivered = pub.offset === 1 ? { ...pub, epoch: ch.epoch } : pub;
    this.handler.handleMapPublication(name, delivered, position, delta, prev);
  }
}

function suppressed(position: StreamPosition, reason: MapUpdateResult['suppressReason']): MapUpdateResult {
  return { position, suppressed: true, suppressReason: reason };
}

function idempotentTtl(ms: number | undefined): number {
  return ms && ms > 0 ? ms : DEFAULT_IDEMPOTENT_RESULT_TTL_MS;
}

function hasKeys(tags: Record<string, string> | undefined): tags is Record<string, string> {
  if (!tags) return false;
  for (const _ in tags) return true;
  return false;
}
