import type { ConnectionOptions, Msg, NatsConnection, Subscription, TlsOptions } from 'nats';
import type { Broker, BrokerEventHandler, Clock, Controller, HistoryResult, Logger, PublishOptions, PublishResult, StreamPosition } from '../../core/index.js';
import { systemClock } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { decodeFrame, encodeBody, joinLeaveFrame, liveFrame } from '../envelope.js';
import { BrokerError } from '../errors.js';
import { tlsConnectionOptions } from '../tls.js';
import type { TlsBlock } from '../tls.js';

/** Options of the NATS broker in the config's snake_case shape (server.md §1.6.3 [NATS]; durations in ms). */
export interface NatsBrokerOptions {
  /** Subject prefix; default `centrifugo`. */
  prefix?: string;
  /** Server URL(s), comma-separated; default `nats://localhost:4222`. */
  url?: string;
  /** Connect timeout; default 1 s. */
  dial_timeout?: number;
  /** Bound of the flush that confirms a subscription to the server; default 1 s. */
  write_timeout?: number;
  tls?: TlsBlock;
  /** Allow subscribing to channels with NATS wildcards (`*`, `>`); publishing to them is always refused. */
  allow_wildcards?: boolean;
  /** Raw mode: subject = raw prefix + channel after replacements, payload = the data alone, no join/leave. */
  raw_mode?: { enabled?: boolean; channel_replacements?: Readonly<Record<string, string>>; prefix?: string };
  /** Source of publish times and idempotency expiry; defaults to the system clock. */
  clock?: Clock;
  logger?: Logger;
}

/** Default lifetime of a remembered idempotent publish result: 5 minutes. */
export const NATS_DEFAULT_IDEMPOTENT_RESULT_TTL_MS = 5 * 60 * 1000;
const SWEEP_INTERVAL_MS = 10_000;

/**
 * Pub/sub-only broker over NATS (server.md §6.3): subjects `<prefix>.client.<channel>`, at most once,
 * no history (`history`/`removeHistory` reject with code `not_available`; publishes with history
 * options are only fanned out, with a zero position). Idempotency keys are remembered by this node
 * only. Reconnects forever; NATS itself resubscribes and buffers publishes while reconnecting.
 * Also the node-to-node Controller, over `<prefix>.control` and `<prefix>.node.<id>`.
 */
export class NatsBroker implements Broker, Controller {
  readonly reliable = false;
  private readonly prefix: string;
  private readonly raw: boolean;
  private readonly rawPrefix: string;
  private readonly replacements: [string, string][];
  private readonly clock: Clock;
  private nc: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private handler: BrokerEventHandler | undefined;
  private readonly subs = new Map<string, Subscription>();
  private readonly idempotent = new Map<string, { position: StreamPosition; expiresAt: number }>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private online = false;

  constructor(private readonly opts: NatsBrokerOptions = {}) {
    this.prefix = opts.prefix || 'centrifugo';
    this.raw = opts.raw_mode?.enabled === true;
    this.rawPrefix = opts.raw_mode?.prefix ?? '';
    this.replacements = Object.entries(opts.raw_mode?.channel_replacements ?? {});
    this.clock = opts.clock ?? systemClock;
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Connects; rejects with `backend_error` when the server cannot be reached within dial_timeout. */
  async run(handler: BrokerEventHandler): Promise<void> {
    this.ensureOpen();
    this.handler = handler;
    await this.connect();
  }

  /** Subscribes to broadcast control messages and to those addressed to `nodeId`. */
  async runControl(nodeId: string, handler: (msg: Uint8Array) => void): Promise<void> {
    const nc = await this.connect();
    for (const subject of [`${this.prefix}.control`, `${this.prefix}.node.${nodeId}`]) {
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return this.opts.logger?.warn({ err }, 'nats control subscription error');
          try {
            handler(msg.data);
          } catch (e) {
            this.opts.logger?.warn({ err: e }, 'nats control handler failed');
          }
        },
      });
    }
    await withTimeout(nc.flush(), positive(this.opts.write_timeout, 1000)).catch((err: unknown) => {
      throw wrap('nats control subscribe was not confirmed', err);
    });
  }

  /** Publishes a control message to every node, or to `toNode` only. At most once. */
  async publishControl(msg: Uint8Array, toNode?: string): Promise<void> {
    const nc = await this.connect();
    try {
      nc.publish(toNode === undefined ? `${this.prefix}.control` : `${this.prefix}.node.${toNode}`, msg);
    } catch (err) {
      throw wrap('nats control publish failed', err);
    }
  }

  /** The connection, opened once; a failed first attempt is retried by the next call. */
  private connect(): Promise<NatsConnection> {
    this.ensureOpen();
    if (this.connecting) return this.connecting;
    const options: ConnectionOptions = {
      servers: (this.opts.url || 'nats://localhost:4222').split(',').map((s) => s.trim()).filter((s) => s !== ''),
      timeout: positive(this.opts.dial_timeout, 1000),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      name: 'gyre',
    };
    const tls = tlsConnectionOptions(this.opts.tls);
    if (tls) options.tls = { ca: tls.ca, cert: tls.cert, key: tls.key } as TlsOptions;
    // The driver is loaded on first use so a Gyre without NATS never loads it.
    this.connecting = import('nats').then(({ connect }) => connect(options)).then(
      async (nc) => {
        if (this.closed) {
          await nc.close();
          throw new BrokerError('broker_closed', 'nats broker is closed');
        }
        this.nc = nc;
        this.online = true;
        void this.watchStatus(nc);
        return nc;
      },
      (err: unknown) => {
        this.connecting = undefined;
        throw wrap('cannot connect to nats', err);
      },
    );
    return this.connecting;
  }

  /** Subscribes to the channel's subject and waits until the server has it. Idempotent. */
  async subscribe(channel: string): Promise<void> {
    const nc = this.connection();
    if (this.subs.has(channel)) return;
    if (hasWildcard(channel) && !this.opts.allow_wildcards) throw new BrokerError('bad_channel', `channel "${channel}" contains NATS wildcards`);
    let sub: Subscription;
    try {
      sub = nc.subscribe(this.subject(channel), { callback: (err, msg) => (err ? this.opts.logger?.warn({ err }, 'nats subscription error') : this.onMessage(channel, msg)) });
    } catch (err) {
      throw new BrokerError('bad_channel', `cannot subscribe to channel "${channel}"`, { cause: err });
    }
    this.subs.set(channel, sub);
    try {
      await withTimeout(nc.flush(), positive(this.opts.write_timeout, 1000));
    } catch (err) {
      if (this.subs.get(channel) === sub) this.subs.delete(channel);
      sub.unsubscribe();
      throw wrap('nats subscribe was not confirmed', err);
    }
  }

  /** Stops deliveries for the channel at once. Idempotent. */
  async unsubscribe(channel: string): Promise<void> {
    this.ensureOpen();
    const sub = this.subs.get(channel);
    if (!sub) return;
    this.subs.delete(channel);
    sub.unsubscribe();
  }

  /** Tracks whether the server connection is up, so publishes during an outage fail instead of queueing. */
  private async watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          if (this.online) this.opts.logger?.warn({}, 'nats connection lost, reconnecting');
          this.online = false;
        } else if (s.type === 'reconnect') {
          this.online = true;
          this.opts.logger?.info({}, 'nats connection restored');
        }
      }
    } catch {
      // The status iterator ends with the connection.
    }
  }

  /**
   * Fans one publication out; never saved. An idempotent repeat (same node) resolves suppressed.
   * While the server is unreachable it rejects with `backend_error` rather than buffering.
   */
  async publish(channel: string, data: Uint8Array, opts: PublishOptions): Promise<PublishResult> {
    const nc = this.connection();
    if (!this.online) throw new BrokerError('backend_error', 'nats is disconnected');
    if (hasWildcard(channel)) throw new BrokerError('bad_channel', `cannot publish to channel "${channel}" with NATS wildcards`);
    const now = this.clock.now();
    const key = opts.idempotencyKey ? `${channel}\u0000${opts.idempotencyKey}` : undefined;
    if (key !== undefined) {
      const cached = this.idempotent.get(key);
      if (cached && cached.expiresAt > now) return { position: { ...cached.position }, suppressed: true, suppressReason: 'idempotency' };
    }
    const payload = this.raw ? data : liveFrame(encodeBody(data, now, opts.clientInfo, opts.tags), opts.delta === true);
    this.send(nc, channel, payload);
    if (key !== undefined) this.idempotent.set(key, { position: { offset: 0, epoch: '' }, expiresAt: now + positive(opts.idempotentResultTtlMs, NATS_DEFAULT_IDEMPOTENT_RESULT_TTL_MS) });
    return { position: { offset: 0, epoch: '' }, suppressed: false };
  }

  /** Fans a join out (skipped in raw mode). */
  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    const nc = this.connection();
    if (!this.raw) this.send(nc, channel, joinLeaveFrame('join', info));
  }

  /** Fans a leave out (skipped in raw mode). */
  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    const nc = this.connection();
    if (!this.raw) this.send(nc, channel, joinLeaveFrame('leave', info));
  }

  /** NATS keeps no history: rejects with code `not_available`. */
  async history(_channel: string): Promise<HistoryResult> {
    this.ensureOpen();
    throw new BrokerError('not_available', 'the nats broker keeps no history');
  }

  /** NATS keeps no history: rejects with code `not_available`. */
  async removeHistory(_channel: string): Promise<void> {
    this.ensureOpen();
    throw new BrokerError('not_available', 'the nats broker keeps no history');
  }

  /** Closes the connection; later calls reject with code `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.handler = undefined;
    this.subs.clear();
    this.idempotent.clear();
    const nc = this.nc;
    this.nc = undefined;
    await nc?.close().catch(() => undefined);
  }

  /** Forgets expired idempotency results; the periodic timer calls it. */
  sweep(): void {
    const now = this.clock.now();
    for (const [key, r] of this.idempotent) if (now >= r.expiresAt) this.idempotent.delete(key);
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrokerError('broker_closed', 'nats broker is closed');
  }

  private connection(): NatsConnection {
    this.ensureOpen();
    if (!this.nc) throw new BrokerError('backend_error', 'nats broker is not running');
    return this.nc;
  }

  private subject(channel: string): string {
    if (!this.raw) return `${this.prefix}.client.${channel}`;
    let c = channel;
    for (const [from, to] of this.replacements) c = c.split(from).join(to);
    return this.rawPrefix + c;
  }

  private send(nc: NatsConnection, channel: string, payload: Uint8Array): void {
    try {
      nc.publish(this.subject(channel), payload);
    } catch (err) {
      throw wrap('nats publish failed', err);
    }
  }

  private onMessage(subscribed: string, msg: Msg): void {
    const handler = this.handler;
    if (!handler || !this.subs.has(subscribed)) return;
    const bytes = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
    try {
      if (this.raw) {
        handler.handlePublication(subscribed, { data: bytes, offset: 0, time: this.clock.now() }, { offset: 0, epoch: '' }, false);
        return;
      }
      // A wildcard subscription receives concrete channels: take the channel from the subject.
      const channel = msg.subject.slice(this.prefix.length + '.client.'.length);
      const frame = decodeFrame(bytes);
      if (frame.kind === 'pub') handler.handlePublication(channel, frame.pub, frame.position, frame.delta, frame.prev);
      else if (frame.kind === 'join') handler.handleJoin(channel, frame.info);
      else handler.handleLeave(channel, frame.info);
    } catch (err) {
      this.opts.logger?.warn({ err, subject: msg.subject }, 'nats message dropped');
    }
  }
}

function hasWildcard(channel: string): boolean {
  return channel.includes('*') || channel.includes('>');
}

function positive(ms: number | undefined, fallback: number): number {
  return ms && ms > 0 ? ms : fallback;
}

function wrap(message: string, cause: unknown): BrokerError {
  if (cause instanceof BrokerError) return cause;
  return new BrokerError('backend_error', `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
