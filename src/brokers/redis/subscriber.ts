/**
 * The PUB/SUB side of one Redis shard: one dedicated connection that SUBSCRIBEs to the channels
 * this node wants. Calls made in the same event-loop turn are coalesced into SUBSCRIBE/UNSUBSCRIBE
 * commands of at most 512 channels, sent in call order. After any reconnect every wanted channel is
 * subscribed again. Messages arrive in per-connection order and are passed on only for channels
 * still wanted, so nothing is delivered after `unsubscribe` resolves.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../core/index.js';
import { BrokerError } from '../errors.js';
import { backendError, reconnectDelayMs } from './connection.js';

const BATCH = 512;

interface PendingOp {
  subscribe: boolean;
  /** A subscribe that made the channel wanted; only such a one un-wants it on failure. */
  fresh: boolean;
  name: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Opens a fresh PUB/SUB connection; `attempt` counts consecutive failures (cluster rotates nodes). */
export type SubscriberFactory = (attempt: number) => Redis;

/**
 * PUB/SUB failures by kind, named as Centrifugo's `error` label names them: `connection` (a
 * connection lost or not made), `subscribe_channel` (a SUBSCRIBE Redis refused or that failed),
 * `handle_client_message` (a message on a client channel that could not be decoded).
 */
export interface PubSubErrorCounts {
  connection: number;
  subscribe_channel: number;
  handle_client_message: number;
}

/** A fresh set of PUB/SUB failure counters, all zero. */
export function pubSubErrorCounts(): PubSubErrorCounts {
  return { connection: 0, subscribe_channel: 0, handle_client_message: 0 };
}

export class RedisSubscriber {
  private conn: Redis | undefined;
  private attempt = 0;
  private readonly wanted = new Set<string>();
  /** Wanted channels confirmed on the current connection. */
  private readonly active = new Set<string>();
  private pending: PendingOp[] = [];
  private flushScheduled = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private firstReady: Promise<void> | undefined;
  private readyWaiters: (() => void)[] = [];

  constructor(
    private readonly factory: SubscriberFactory,
    private readonly onMessage: (name: string, message: Buffer) => void,
    private readonly logger?: Logger,
    /** Where failures are counted (shared by the shards of one broker). */
    private readonly errors: PubSubErrorCounts = pubSubErrorCounts(),
  ) {}

  /** Opens the connection; resolves when it is ready, rejects when the first attempt fails (retries go on). */
  start(): Promise<void> {
    if (!this.firstReady) {
      this.firstReady = this.open();
      return this.firstReady;
    }
    // After a failed first attempt the connection keeps reopening by itself: wait for it.
    if (this.conn?.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Subscribes to a PUB/SUB channel; resolves once Redis confirmed it. Rejects while disconnected. */
  subscribe(name: string): Promise<void> {
    if (this.closed) return Promise.reject(new BrokerError('broker_closed', 'redis broker is closed'));
    if (this.active.has(name)) return Promise.resolve();
    const fresh = !this.wanted.has(name);
    this.wanted.add(name);
    return this.enqueue(true, name, fresh);
  }

  /** Whether messages of this PUB/SUB channel are wanted (subscribed or being subscribed). */
  wants(name: string): boolean {
    return this.wanted.has(name);
  }

  /** Unsubscribes; deliveries for the channel stop at once. Never rejects. */
  unsubscribe(name: string): Promise<void> {
    if (!this.wanted.delete(name)) return Promise.resolve();
    this.active.delete(name);
    return this.enqueue(false, name, false);
  }

  /** Closes the connection and rejects pending subscribes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.readyWaiters = [];
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    for (const op of this.pending.splice(0)) op.subscribe ? op.reject(new BrokerError('broker_closed', 'redis broker is closed')) : op.resolve();
    this.wanted.clear();
    this.active.clear();
    const conn = this.conn;
    this.conn = undefined;
    conn?.disconnect();
  }

  private open(): Promise<void> {
    const conn = this.factory(this.attempt);
    this.conn = conn;
    conn.on('error', (err: unknown) => this.logger?.debug({ err }, 'redis pub/sub connection error'));
    conn.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (this.conn !== conn) return;
      const name = channel.toString();
      if (this.wanted.has(name)) this.onMessage(name, message);
    });
    conn.on('ready', () => {
      if (this.conn !== conn) return;
      this.attempt = 0;
      this.resubscribe(conn);
      for (const resolve of this.readyWaiters.splice(0)) resolve();
    });
    conn.once('end', () => {
      if (this.closed || this.conn !== conn) return;
      this.errors.connection++;
      this.conn = undefined;
      this.active.clear();
      this.attempt++;
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        if (!this.closed) this.open().catch(() => undefined);
      }, reconnectDelayMs(this.attempt));
    });
    return conn.connect().catch((err: unknown) => {
      throw backendError('cannot connect the redis pub/sub connection', err);
    });
  }

  private resubscribe(conn: Redis): void {
    const names = [...this.wanted];
    for (let i = 0; i < names.length; i += BATCH) {
      const chunk = names.slice(i, i + BATCH);
      conn.subscribe(...chunk).then(
        () => {
          if (this.conn === conn) for (const n of chunk) if (this.wanted.has(n)) this.active.add(n);
        },
        (err: unknown) => {
          this.errors.subscribe_channel++;
          this.logger?.warn({ err }, 'redis resubscribe failed');
        },
      );
    }
  }

  private enqueue(subscribe: boolean, name: string, fresh: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ subscribe, fresh, name, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Sends pending operations as runs of same-kind commands, in call order. */
  private flush(): void {
    this.flushScheduled = false;
    const ops = this.pending;
    this.pending = [];
    const conn = this.conn;
    if (!conn || conn.status !== 'ready') {
      const err = new BrokerError('backend_error', 'redis pub/sub connection is not ready');
      for (const op of ops) {
        if (!op.subscribe) op.resolve();
        else {
          if (op.fresh) this.wanted.delete(op.name);
          op.reject(err);
        }
      }
      return;
    }
    let i = 0;
    while (i < ops.length) {
      const kind = ops[i]!.subscribe;
      const run: PendingOp[] = [];
      while (i < ops.length && ops[i]!.subscribe === kind && run.length < BATCH) run.push(ops[i++]!);
      this.send(conn, kind, run);
    }
  }

  private send(conn: Redis, subscribe: boolean, run: PendingOp[]): void {
    const names = [...new Set(run.map((op) => op.name))];
    const command = subscribe ? conn.subscribe(...names) : conn.unsubscribe(...names);
    command.then(
      () => {
        for (const op of run) {
          if (subscribe && this.conn === conn && this.wanted.has(op.name)) this.active.add(op.name);
          op.resolve();
        }
      },
      (err: unknown) => {
        if (subscribe) this.errors.subscribe_channel++;
        const wrapped = backendError('redis subscribe failed', err);
        for (const op of run) {
          if (!subscribe) op.resolve();
          else {
            if (op.fresh && !this.active.has(op.name)) this.wanted.delete(op.name);
            op.reject(wrapped);
          }
        }
      },
    );
  }
}
