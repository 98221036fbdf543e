/**
 * RabbitMQ consumer (Gyre extension): consumes one queue (declared durable when missing) with
 * a prefetch window, runs each message through the Dispatcher one at a time (publication order
 * is kept) and acks it after the API call. Dropped messages are acked too; a message failing
 * with an internal error is requeued after a growing delay together with every message the
 * window delivered behind it, so the broker hands them out again in queue order and a message
 * that keeps failing cannot spin. A lost connection is re-established with backoff; messages of
 * the lost channel still waiting their turn are left to the broker's redelivery.
 */
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Logger } from '../core/index.js';
import { retryDelayMs, type Consumer, type ConsumerState } from './consumer.js';
import type { Dispatcher } from './dispatcher.js';

export interface RabbitMqOptions {
  name: string;
  url: string;
  queue: string;
  prefetchCount: number;
}

const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 10_000;
/** How often the queue depth shown by `info` is refreshed. */
const DEPTH_INTERVAL_MS = 5_000;
/** How long close() waits for the message in hand before closing the connection anyway. */
const CLOSE_WAIT_MS = 2_000;

export class RabbitMqConsumer implements Consumer {
  readonly name: string;
  readonly type = 'rabbitmq';
  /** Messages ready in the queue at the last check. */
  private depth: number | undefined;
  private depthTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private model: ChannelModel | undefined;
  /** The channel consuming now; messages of any other channel are no longer ours to settle. */
  private channel: Channel | undefined;
  /** Highest delivery tag received on `channel`. */
  private lastTag = 0;
  /** Messages of `channel` with a tag up to this were handed back (requeued) and are skipped. */
  private requeuedUpTo = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  /** Requeue timer of the failed message in hand (at most one: messages run one at a time). */
  private readonly retryTimers = new Map<NodeJS.Timeout, () => void>();
  /** Consecutive internal failures: drives the requeue delay. */
  private failures = 0;
  /** Messages run one after another on this chain. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: RabbitMqOptions,
    private readonly dispatcher: Dispatcher,
    private readonly logger: Logger,
  ) {
    this.name = opts.name;
  }

  async start(): Promise<void> {
    void this.connectOnce();
  }

  state(): ConsumerState {
    return this.dispatcher.stats.snapshot(this.name, this.type, this.depth);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dispatcher.stats.status = 'stopped';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.depthTimer);
    this.dropRetries();
    let waitTimer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise<void>((r) => (waitTimer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(waitTimer);
    const model = this.model;
    this.model = undefined;
    // Unacked messages go back to the queue when the connection closes.
    await model?.close().catch(() => undefined);
  }

  private async connectOnce(): Promise<void> {
    if (this.closed) return;
    let model: ChannelModel | undefined;
    try {
      // The connection carries a name the broker's tools show (and operators can act on).
      model = await connect(this.opts.url, { clientProperties: { connection_name: `gyre consumer ${this.name}` } });
      if (this.closed) {
        await model.close().catch(() => undefined);
        return;
      }
      model.on('error', (err: Error) => this.logger.warn({ consumer: this.name, err }, 'rabbitmq connection error'));
      model.on('close', () => this.lost(model));
      this.model = model;
      const ch = await model.createChannel();
      ch.on('error', (err: Error) => this.logger.warn({ consumer: this.name, err }, 'rabbitmq channel error'));
      // A closed channel on a live connection (a channel error) is recovered through a new connection.
      ch.on('close', () => {
        if (this.model === model) void model?.close().catch(() => undefined);
      });
      this.channel = ch;
      this.lastTag = 0;
      this.requeuedUpTo = 0;
      this.depth = (await ch.assertQueue(this.opts.queue, { durable: true })).messageCount;
      await ch.prefetch(this.opts.prefetchCount);
      await ch.consume(this.opts.queue, (msg) => {
        if (msg !== null) this.enqueue(ch, msg);
      });
      this.reconnectAttempt = 0;
      this.dispatcher.stats.status = 'running';
      clearInterval(this.depthTimer);
      this.depthTimer = setInterval(() => {
        ch.checkQueue(this.opts.queue).then(
          (q) => (this.depth = q.messageCount),
          () => undefined,
        );
      }, DEPTH_INTERVAL_MS);
      this.depthTimer.unref();
      this.logger.info({ consumer: this.name, queue: this.opts.queue }, 'rabbitmq consumer running');
    } catch (err) {
      this.logger.warn({ consumer: this.name, err }, 'rabbitmq consumer could not start');
      this.dispatcher.stats.fail(`connect: ${err instanceof Error ? err.message : String(err)}`);
      if (model !== undefined) await model.close().catch(() => undefined);
      else this.lost(undefined);
    }
  }

  /** The connection went away (or never came): try again after a backoff, unless closing. */
  private lost(model: ChannelModel | undefined): void {
    if (model !== undefined && this.model !== model) return;
    this.model = undefined;
    this.channel = undefined;
    clearInterval(this.depthTimer);
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.dispatcher.stats.status = 'reconnecting';
    this.dropRetries();
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.reconnectAttempt);
    this.reconnectAttempt = Math.min(this.reconnectAttempt + 1, 16);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connectOnce();
    }, delay);
  }

  private enqueue(ch: Channel, msg: ConsumeMessage): void {
    if (ch === this.channel) this.lastTag = Math.max(this.lastTag, msg.fields.deliveryTag);
    this.chain = this.chain.then(() => this.handle(ch, msg));
  }

  private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    // A requeued message (or one of a lost channel) comes back from the broker in its queue position.
    if (this.closed || ch !== this.channel || msg.fields.deliveryTag <= this.requeuedUpTo) return;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(msg.properties.headers ?? {})) {
      if (typeof v === 'string') headers[k] = v;
      else if (Buffer.isBuffer(v)) headers[k] = v.toString('utf8');
      else if (typeof v === 'number' || typeof v === 'boolean') headers[k] = String(v);
    }
    const outcome = await this.dispatcher.dispatch(msg.content, headers);
    if (outcome.kind !== 'retry') {
      this.failures = 0;
      settle(() => ch.ack(msg));
      return;
    }
    // Requeue later; the backoff also holds the chain so the queue is not re-read at full speed.
    // Everything unacked on the channel is this message and the ones delivered behind it:
    // requeuing them all puts them back in queue order, so the order survives the retry.
    this.failures++;
    const delay = retryDelayMs(this.failures);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        if (ch === this.channel) {
          this.requeuedUpTo = this.lastTag;
          settle(() => ch.nackAll(true));
        }
        resolve();
      }, delay);
      this.retryTimers.set(t, resolve);
    });
  }

  /** Cancels pending requeues (their messages return to the queue with the connection) and frees the chain. */
  private dropRetries(): void {
    for (const [t, resolve] of this.retryTimers) {
      clearTimeout(t);
      resolve();
    }
    this.retryTimers.clear();
  }
}

/** Ack/nack on a channel that may have closed meanwhile (the broker requeues then). */
function settle(fn: () => void): void {
  try {
    fn();
  } catch {
    // Channel gone.
  }
}
