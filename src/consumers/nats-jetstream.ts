/**
 * NATS JetStream consumer: reads one durable pull consumer of an existing stream (Gyre never
 * creates streams), runs each message through the Dispatcher one at a time in delivery order,
 * acks it after the API call (dropped messages too) and naks it with a delay growing with its
 * delivery count when the call failed with an internal error. Unless told to attach to an
 * existing durable, the durable is created or updated at every (re)start, so a deleted consumer
 * comes back. A missing stream or durable is logged and retried with backoff.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, ConsumerConfig, ConsumerMessages, JetStreamManager, JsMsg, NatsConnection, TlsOptions } from 'nats';
import type { Logger } from '../core/index.js';
import { retryDelayMs, type Consumer, type ConsumerState } from './consumer.js';
import type { Dispatcher } from './dispatcher.js';

let natsDriver: Promise<typeof import('nats')> | undefined;
/** The nats module, loaded on first use so a Gyre without NATS never loads it. */
const loadNats = (): Promise<typeof import('nats')> => (natsDriver ??= import('nats'));

/** Connection and consumer settings, as the configuration's `nats_jetstream` block gives them. */
export interface NatsJetStreamOptions {
  name: string;
  /** Comma-separated server URLs. */
  url: string;
  /** Auth precedence: credentials file, then user/password, then token. */
  credentialsFile?: string;
  username?: string;
  password?: string;
  token?: string;
  /** Node TLS options (already built from the [TLS] block); undefined for plain connections. */
  tls?: TlsOptions;
  streamName: string;
  durableConsumerName: string;
  /** Attach to the durable as it is (never create or change it); missing = start fails and is retried. */
  useExistingConsumer: boolean;
  /** Filter subjects of the durable (empty = the whole stream). */
  subjects: readonly string[];
  deliverPolicy: 'new' | 'all';
  /** Unacknowledged messages the server lets out at once; also the client's pull buffer. */
  maxAckPending: number;
}

/** How long the server waits for an ack before redelivering. */
const ACK_WAIT_MS = 30_000;
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 10_000;
/** How often `state()` may ask the server for the consumer's pending count. */
const PENDING_REFRESH_MS = 5_000;
/** How long close() waits for the message in hand before closing the connection anyway. */
const CLOSE_WAIT_MS = 2_000;
/** Upper bound of the client-side pull buffer, whatever max_ack_pending says (-1 = unlimited). */
const MAX_BUFFER = 10_000;

/** Error text of the nats client for a missing stream or consumer. */
const isMissing = (err: unknown, what: 'stream' | 'consumer'): boolean => err instanceof Error && err.message === `${what} not found`;
const text = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class NatsJetStreamConsumer implements Consumer {
  readonly name: string;
  readonly type = 'nats_jetstream';
  private closed = false;
  private nc: NatsConnection | undefined;
  private jsm: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> = Promise.resolve();
  private restartAttempt = 0;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Messages waiting in the consumer at the last look (a delivered message or a consumer info). */
  private pending: number | undefined;
  private pendingAt = 0;
  private pendingBusy = false;

  constructor(
    private readonly opts: NatsJetStreamOptions,
    private readonly dispatcher: Dispatcher,
    private readonly logger: Logger,
  ) {
    this.name = opts.name;
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  state(): ConsumerState {
    this.refreshPending();
    return this.dispatcher.stats.snapshot(this.name, this.type, this.pending);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dispatcher.stats.status = 'stopped';
    clearTimeout(this.sleepTimer);
    this.wake?.();
    this.messages?.stop();
    let waitTimer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise<void>((r) => (waitTimer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(waitTimer);
    const nc = this.nc;
    this.nc = undefined;
    this.jsm = undefined;
    if (nc !== undefined && !nc.isClosed()) {
      // Acks and naks still buffered go out before the connection closes.
      await nc.flush().catch(() => undefined);
      await nc.close().catch(() => undefined);
    }
  }

  /** Runs consuming sessions until closed, restarting after any failure with backoff. */
  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.session();
      } catch (err) {
        if (this.closed) break;
        const message = text(err);
        this.logger.error({ consumer: this.name, stream: this.opts.streamName, durable: this.opts.durableConsumerName, err: message }, 'nats jetstream consumer stopped, will retry');
        this.dispatcher.stats.fail(message);
      }
      if (this.closed) break;
      this.dispatcher.stats.status = 'reconnecting';
      await this.sleep(Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** this.restartAttempt));
      this.restartAttempt = Math.min(this.restartAttempt + 1, 16);
    }
  }

  /** One consuming session: connect, check the stream, set up the durable, then read until it ends. */
  private async session(): Promise<void> {
    const nc = await this.connection();
    const jsm = await nc.jetstreamManager();
    this.jsm = jsm;
    try {
      await jsm.streams.info(this.opts.streamName);
    } catch (err) {
      if (isMissing(err, 'stream')) throw new Error(`stream "${this.opts.streamName}" does not exist (Gyre does not create streams)`);
      throw err;
    }
    const buffer = await this.ensureConsumer(jsm);
    const consumer = await nc.jetstream().consumers.get(this.opts.streamName, this.opts.durableConsumerName);
    const messages = await consumer.consume({ max_messages: buffer, abort_on_missing_resource: true });
    this.messages = messages;
    if (this.closed) messages.stop();
    void this.watchConsumer(messages);
    this.restartAttempt = 0;
    this.dispatcher.stats.status = 'running';
    this.logger.info({ consumer: this.name, stream: this.opts.streamName, durable: this.opts.durableConsumerName }, 'nats jetstream consumer running');
    try {
      for await (const m of messages) {
        // Closing: hand the buffered rest back at once instead of after the ack wait.
        if (this.closed) m.nak();
        else await this.handle(m);
      }
    } finally {
      if (this.messages === messages) this.messages = undefined;
    }
    if (!this.closed) throw new Error('message stream ended (durable consumer deleted?)');
  }

  /** Creates or updates the durable (or checks it exists); returns the pull buffer size. */
  private async ensureConsumer(jsm: JetStreamManager): Promise<number> {
    const { streamName: stream, durableConsumerName: durable } = this.opts;
    let existing;
    try {
      existing = await jsm.consumers.info(stream, durable);
    } catch (err) {
      if (!isMissing(err, 'consumer')) throw err;
      if (this.opts.useExistingConsumer) throw new Error(`durable consumer "${durable}" does not exist in stream "${stream}" (use_existing_consumer is set)`);
    }
    if (this.opts.useExistingConsumer && existing !== undefined) return bufferSize(existing.config.max_ack_pending);
    const { AckPolicy, DeliverPolicy, nanos } = await loadNats();
    const subjects = this.opts.subjects;
    const filter: Partial<ConsumerConfig> = subjects.length === 1 ? { filter_subject: subjects[0] } : subjects.length > 1 ? { filter_subjects: [...subjects] } : {};
    if (existing === undefined) {
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(ACK_WAIT_MS),
        deliver_policy: this.opts.deliverPolicy === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
        max_ack_pending: this.opts.maxAckPending,
        ...filter,
      });
    } else {
      // The deliver policy of an existing durable cannot change; the rest is brought up to date.
      try {
        await jsm.consumers.update(stream, durable, { ack_wait: nanos(ACK_WAIT_MS), max_ack_pending: this.opts.maxAckPending, ...filter });
      } catch (err) {
        this.logger.warn({ consumer: this.name, durable, err: text(err) }, 'nats jetstream durable consumer could not be updated, using it as it is');
      }
    }
    return bufferSize(this.opts.maxAckPending);
  }

  /** Ends the session as soon as the server says the durable was deleted, so it is set up again. */
  private async watchConsumer(messages: ConsumerMessages): Promise<void> {
    const { ConsumerEvents } = await loadNats();
    try {
      for await (const s of await messages.status()) {
        if (s.type === ConsumerEvents.ConsumerDeleted || s.type === ConsumerEvents.ConsumerNotFound || s.type === ConsumerEvents.StreamNotFound) {
          messages.stop(new Error(`${s.type}: ${String(s.data)}`));
          return;
        }
      }
    } catch {
      // The status iterator ends with the messages.
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    const headers: Record<string, string> = {};
    if (m.headers !== undefined) {
      for (const [k, values] of m.headers) headers[k] = values[0] ?? '';
    }
    const outcome = await this.dispatcher.dispatch(m.data, headers);
    if (outcome.kind === 'retry') m.nak(retryDelayMs(m.info.deliveryCount));
    else m.ack();
    this.pending = m.info.pending;
  }

  /** The connection, opened once and reopened if it ended for good. */
  private async connection(): Promise<NatsConnection> {
    if (this.nc !== undefined && !this.nc.isClosed()) return this.nc;
    const o = this.opts;
    const { connect, credsAuthenticator } = await loadNats();
    const options: ConnectionOptions = {
      servers: (o.url || 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter((s) => s !== ''),
      name: `gyre consumer ${o.name}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    };
    if (o.credentialsFile) options.authenticator = credsAuthenticator(new Uint8Array(readFileSync(o.credentialsFile)));
    else if (o.username) {
      options.user = o.username;
      options.pass = o.password ?? '';
    } else if (o.token) options.token = o.token;
    if (o.tls !== undefined) options.tls = o.tls;
    const nc = await connect(options);
    if (this.closed) {
      await nc.close().catch(() => undefined);
      throw new Error('closed');
    }
    this.nc = nc;
    void this.watchConnection(nc);
    return nc;
  }

  /** Mirrors the connection's state in the consumer status; a closed connection ends the session. */
  private async watchConnection(nc: NatsConnection): Promise<void> {
    void nc.closed().then(() => {
      if (this.nc === nc) this.messages?.stop(new Error('nats connection closed'));
    });
    for await (const s of nc.status()) {
      if (this.closed || this.nc !== nc) return;
      if (s.type === 'disconnect') {
        this.dispatcher.stats.status = 'reconnecting';
        this.dispatcher.stats.fail(`nats connection lost: ${String(s.data)}`);
        this.logger.warn({ consumer: this.name, server: s.data }, 'nats jetstream consumer lost its connection, reconnecting');
      } else if (s.type === 'reconnect' && this.messages !== undefined) {
        this.dispatcher.stats.status = 'running';
      }
    }
  }

  /** Refreshes `pending` from the consumer info, at most every PENDING_REFRESH_MS. */
  private refreshPending(): void {
    const jsm = this.jsm;
    const now = Date.now();
    if (jsm === undefined || this.closed || this.pendingBusy || now - this.pendingAt < PENDING_REFRESH_MS) return;
    this.pendingBusy = true;
    this.pendingAt = now;
    jsm.consumers.info(this.opts.streamName, this.opts.durableConsumerName).then(
      (info) => {
        this.pending = info.num_pending;
        this.pendingBusy = false;
      },
      () => (this.pendingBusy = false),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    }).finally(() => {
      this.wake = undefined;
      this.sleepTimer = undefined;
    });
  }
}

/** Pull buffer for a max_ack_pending value: at least 1, at most MAX_BUFFER (also for -1 = unlimited). */
function bufferSize(maxAckPending: number | undefined): number {
  if (maxAckPending === undefined || maxAckPending <= 0) return maxAckPending === undefined || maxAckPending === 0 ? 100 : MAX_BUFFER;
  return Math.min(MAX_BUFFER, maxAckPending);
}
