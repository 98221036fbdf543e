/**
 * Redis Streams consumer (Centrifugo's `redis_stream`): one consumer group over one or more
 * streams, this node as the group consumer. Per stream one loop on its own connection reads new
 * entries (XREADGROUP) and, every few seconds, reclaims entries left pending longer than the
 * visibility timeout (XAUTOCLAIM: failed attempts and entries of consumers that died), handing
 * each to one of `numWorkers` concurrent workers; at most `numWorkers` entries per stream are in
 * hand. An entry is acknowledged (XACK) once run or dropped; an internal failure leaves it
 * pending, so it comes back through a later reclaim. Delivery is at least once, order best effort.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../core/index.js';
import type { Consumer, ConsumerState } from './consumer.js';
import type { Dispatcher } from './dispatcher.js';

/** A connected ioredis client (standalone, sentinel or cluster). */
export type StreamRedisClient = Redis | Cluster;

/**
 * Makes a new connected client, rejecting when the first connect fails. With `blockMs` the
 * client's command timeout leaves room for blocking commands of that length.
 */
export type StreamClientFactory = (req?: { blockMs?: number }) => Promise<StreamRedisClient>;

export interface RedisStreamOptions {
  name: string;
  streams: readonly string[];
  group: string;
  /** Name of this node in the group (the node id). */
  consumerName: string;
  /** Pending entries idle longer than this are reclaimed and run again, ms. */
  visibilityTimeoutMs: number;
  /** Entries of one stream run concurrently (and held unacknowledged) at most. */
  numWorkers: number;
  /** Field with the message body. */
  payloadField: string;
  /** Field with the API method; passed to the dispatcher under its method header. */
  methodField: string;
  /** How often pending entries are checked for reclaiming, ms; default 5000. */
  reclaimIntervalMs?: number;
}

/** How long one XREADGROUP waits for new entries, ms. */
const BLOCK_MS = 5_000;
const DEFAULT_RECLAIM_INTERVAL_MS = 5_000;
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 10_000;
/** The pending figure shown by `info` is refreshed at most this often. */
const PENDING_REFRESH_MS = 5_000;
/** How long close() waits for entries in hand before closing connections anyway. */
const CLOSE_WAIT_MS = 2_000;

interface Entry {
  id: string;
  fields: Map<string, Buffer>;
}

/** Counting semaphore for one stream's workers; `close()` wakes every waiter with false. */
class Slots {
  private waiters: ((ok: boolean) => void)[] = [];
  private closed = false;
  constructor(private free: number) {}

  /** Waits for one slot; false once closed. */
  acquire(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Takes up to `max` free slots at once; how many it took. */
  take(max: number): number {
    const n = Math.max(0, Math.min(max, this.free));
    this.free -= n;
    return n;
  }

  release(n = 1): void {
    for (let i = 0; i < n; i++) {
      const next = this.waiters.shift();
      if (next && !this.closed) next(true);
      else this.free++;
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(false);
  }
}

interface StreamState {
  key: string;
  slots: Slots;
  /** Ids being run by a worker: a reclaim that returns one of them leaves it to that worker. */
  inHand: Set<string>;
  /**
   * Set while an XAUTOCLAIM is on its way: ids whose worker finished meanwhile (their XACK may
   * have come after the claim). At most num_workers: no new entry starts during the claim.
   */
  finishedDuringClaim: Set<string> | undefined;
  reader: StreamRedisClient | undefined;
  groupReady: boolean;
  healthy: boolean;
  nextReclaimAt: number;
  /** XAUTOCLAIM cursor of an unfinished reclaim pass. */
  reclaimCursor: string;
}

export class RedisStreamConsumer implements Consumer {
  readonly name: string;
  readonly type = 'redis_stream';
  private closed = false;
  private readonly streams: StreamState[];
  private command: Promise<StreamRedisClient> | undefined;
  private readonly loops: Promise<void>[] = [];
  private readonly workers = new Set<Promise<void>>();
  private readonly sleeps = new Map<NodeJS.Timeout, () => void>();
  private pending: number | undefined;
  private pendingCheckedAt = 0;
  private readonly reclaimIntervalMs: number;

  constructor(
    private readonly opts: RedisStreamOptions,
    private readonly factory: StreamClientFactory,
    private readonly dispatcher: Dispatcher,
    private readonly logger: Logger,
  ) {
    this.name = opts.name;
    this.reclaimIntervalMs = opts.reclaimIntervalMs ?? DEFAULT_RECLAIM_INTERVAL_MS;
    const workers = Math.max(1, Math.floor(opts.numWorkers));
    this.streams = [...new Set(opts.streams)].map((key) => ({
      key,
      slots: new Slots(workers),
      inHand: new Set<string>(),
      finishedDuringClaim: undefined,
      reader: undefined,
      groupReady: false,
      healthy: false,
      nextReclaimAt: 0,
      reclaimCursor: '0-0',
    }));
  }

  async start(): Promise<void> {
    for (const s of this.streams) this.loops.push(this.streamLoop(s));
  }

  state(): ConsumerState {
    this.refreshPending();
    return this.dispatcher.stats.snapshot(this.name, this.type, this.pending);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dispatcher.stats.status = 'stopped';
    for (const [t, wake] of this.sleeps) {
      clearTimeout(t);
      wake();
    }
    this.sleeps.clear();
    for (const s of this.streams) {
      s.slots.close();
      // Ends a blocked XREADGROUP at once; entries it had not returned stay new in the group.
      s.reader?.disconnect();
      s.reader = undefined;
    }
    let waitTimer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.workers]), new Promise<void>((r) => (waitTimer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(waitTimer);
    await Promise.allSettled(this.loops);
    const command = this.command;
    this.command = undefined;
    const client = await command?.catch(() => undefined);
    client?.disconnect();
  }

  /** The shared client for group creation, acknowledgements and `info`; made on first use. */
  private commandClient(): Promise<StreamRedisClient> {
    if (this.command === undefined) {
      const made = this.factory();
      this.command = made;
      made.then(
        (c) => {
          if (this.closed) c.disconnect();
        },
        () => {
          if (this.command === made) this.command = undefined;
        },
      );
    }
    return this.command;
  }

  private async streamLoop(s: StreamState): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (s.reader === undefined || s.reader.status === 'end') {
          const reader = await this.factory({ blockMs: BLOCK_MS });
          if (this.closed) {
            reader.disconnect();
            return;
          }
          s.reader = reader;
        }
        if (!s.groupReady) {
          await ensureGroup(await this.commandClient(), s.key, this.opts.group);
          s.groupReady = true;
          this.logger.info({ consumer: this.name, stream: s.key, group: this.opts.group }, 'redis stream consumer running');
        }
        this.setHealthy(s, true);
        failures = 0;
        await this.readOnce(s, s.reader);
      } catch (err) {
        if (this.closed) return;
        const message = err instanceof Error ? err.message : String(err);
        // The group (or the stream) is gone, e.g. deleted or Redis restarted empty: make it again.
        if (message.startsWith('NOGROUP')) s.groupReady = false;
        this.setHealthy(s, false);
        this.dispatcher.stats.fail(`${s.key}: ${message}`);
        if (failures === 0) this.logger.warn({ consumer: this.name, stream: s.key, err }, 'redis stream consumer failed, retrying');
        await this.sleep(Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(failures, 16)));
        failures++;
      }
    }
  }

  /** One step of a stream's loop: take free worker slots, fill them by a reclaim pass or a blocking read. */
  private async readOnce(s: StreamState, reader: StreamRedisClient): Promise<void> {
    if (!(await s.slots.acquire())) return;
    const n = 1 + s.slots.take(this.opts.numWorkers - 1);
    let entries: Entry[];
    try {
      const now = Date.now();
      if (now >= s.nextReclaimAt) {
        const finished = new Set<string>();
        s.finishedDuringClaim = finished;
        let reply: unknown;
        try {
          reply = await reader.callBuffer('xautoclaim', s.key, this.opts.group, this.opts.consumerName, this.opts.visibilityTimeoutMs, s.reclaimCursor, 'COUNT', n);
        } finally {
          s.finishedDuringClaim = undefined;
        }
        const [cursor, claimed] = parseAutoclaim(reply);
        s.reclaimCursor = cursor;
        if (cursor === '0-0') s.nextReclaimAt = Date.now() + this.reclaimIntervalMs;
        // A slow worker's own entry may be idle long enough to be claimed again: it stays with that
        // worker, or was just run by it.
        entries = claimed.filter((e) => !s.inHand.has(e.id) && !finished.has(e.id));
      } else {
        const block = Math.max(10, Math.min(BLOCK_MS, s.nextReclaimAt - now));
        const reply = await reader.callBuffer('xreadgroup', 'GROUP', this.opts.group, this.opts.consumerName, 'COUNT', n, 'BLOCK', block, 'STREAMS', s.key, '>');
        entries = parseRead(reply);
      }
    } catch (err) {
      s.slots.release(n);
      throw err;
    }
    s.slots.release(Math.max(0, n - entries.length));
    for (const e of entries.slice(0, n)) this.runEntry(s, e);
  }

  private runEntry(s: StreamState, e: Entry): void {
    s.inHand.add(e.id);
    const work = this.handle(s, e)
      .catch((err: unknown) => this.logger.error({ consumer: this.name, stream: s.key, id: e.id, err }, 'redis stream entry failed'))
      .finally(() => {
        s.inHand.delete(e.id);
        s.finishedDuringClaim?.add(e.id);
        this.workers.delete(work);
        s.slots.release();
      });
    this.workers.add(work);
  }

  private async handle(s: StreamState, e: Entry): Promise<void> {
    const payload = e.fields.get(this.opts.payloadField);
    if (payload === undefined) {
      // Nothing to run: skipped for good, never retried.
      this.dispatcher.stats.processed++;
      this.dispatcher.stats.fail(`${s.key} ${e.id}: no "${this.opts.payloadField}" field`);
      this.logger.debug({ consumer: this.name, stream: s.key, id: e.id }, 'redis stream entry without payload skipped');
      await this.ack(s, e.id);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of e.fields) {
      if (k === this.opts.payloadField) continue;
      headers[k === this.opts.methodField ? this.dispatcher.methodHeader : k] = v.toString('utf8');
    }
    const outcome = await this.dispatcher.dispatch(payload, headers);
    // On 'retry' the entry stays pending and is reclaimed once idle past the visibility timeout.
    if (outcome.kind !== 'retry') await this.ack(s, e.id);
  }

  private async ack(s: StreamState, id: string): Promise<void> {
    try {
      await (await this.commandClient()).xack(s.key, this.opts.group, id);
    } catch (err) {
      // Still pending: a later reclaim runs it again (at least once).
      this.logger.warn({ consumer: this.name, stream: s.key, id, err }, 'redis stream XACK failed');
    }
  }

  private setHealthy(s: StreamState, ok: boolean): void {
    s.healthy = ok;
    if (this.closed) return;
    this.dispatcher.stats.status = this.streams.every((x) => x.healthy) ? 'running' : 'reconnecting';
  }

  /** Pending = entries delivered but not acknowledged plus, where Redis tells (7.0+), entries not yet delivered. */
  private refreshPending(): void {
    const now = Date.now();
    if (this.closed || this.command === undefined || now - this.pendingCheckedAt < PENDING_REFRESH_MS) return;
    this.pendingCheckedAt = now;
    void (async () => {
      const client = await this.commandClient();
      let total = 0;
      for (const s of this.streams) {
        const groups = (await client.call('xinfo', 'groups', s.key)) as unknown[];
        for (const g of groups) {
          const info = pairs(g);
          if (info.get('name') !== this.opts.group) continue;
          total += Number(info.get('pending') ?? 0);
          const lag = info.get('lag');
          if (lag !== null && lag !== undefined) total += Number(lag);
        }
      }
      this.pending = total;
    })().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeps.delete(t);
        resolve();
      }, ms);
      this.sleeps.set(t, resolve);
    });
  }
}

/** Creates the group at the stream's end (and the stream when missing); an existing group is kept. */
async function ensureGroup(client: StreamRedisClient, key: string, group: string): Promise<void> {
  try {
    await client.call('xgroup', 'CREATE', key, group, '$', 'MKSTREAM');
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
  }
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

function parseEntry(raw: unknown): Entry | undefined {
  if (!Array.isArray(raw) || raw.length < 2 || !Array.isArray(raw[1])) return undefined;
  const flat = raw[1] as unknown[];
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const v = flat[i + 1];
    fields.set(text(flat[i]), Buffer.isBuffer(v) ? v : Buffer.from(text(v)));
  }
  return { id: text(raw[0]), fields };
}

/** XREADGROUP reply of one stream: its entries (none on timeout). */
function parseRead(reply: unknown): Entry[] {
  if (!Array.isArray(reply)) return [];
  const out: Entry[] = [];
  for (const stream of reply) {
    if (!Array.isArray(stream) || !Array.isArray(stream[1])) continue;
    for (const raw of stream[1] as unknown[]) {
      const e = parseEntry(raw);
      if (e) out.push(e);
    }
  }
  return out;
}

/** XAUTOCLAIM reply: next cursor and the claimed entries (deleted ones left out). */
function parseAutoclaim(reply: unknown): [string, Entry[]] {
  if (!Array.isArray(reply) || reply.length < 2) return ['0-0', []];
  const entries: Entry[] = [];
  for (const raw of Array.isArray(reply[1]) ? (reply[1] as unknown[]) : []) {
    const e = parseEntry(raw);
    if (e) entries.push(e);
  }
  return [text(reply[0]), entries];
}

/** A flat `[key, value, ...]` reply as a map. */
function pairs(v: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (!Array.isArray(v)) return m;
  for (let i = 0; i + 1 < v.length; i += 2) m.set(text(v[i]), v[i + 1]);
  return m;
}
