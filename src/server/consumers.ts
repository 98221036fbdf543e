/**
 * Builds the configured async consumers: every enabled one of a type Gyre runs, each with its
 * own Dispatcher over one shared ApiExecutor whose call events carry protocol `consuming`.
 */
import { ApiExecutor } from '../api/index.js';
import type { TlsOptions } from 'nats';
import { createRedisClientFactory, pgClientConfig, type RedisConnectionOptions } from '../brokers/index.js';
import { tlsConnectionOptions, type TlsBlock } from '../brokers/tls.js';
import {
  Dispatcher,
  NatsJetStreamConsumer,
  PostgresOutboxConsumer,
  PUBLICATION_DATA_HEADERS,
  RabbitMqConsumer,
  RedisStreamConsumer,
  type Consumer,
  type ConsumerState,
  type NatsJetStreamOptions,
  type PublicationDataModeOptions,
} from '../consumers/index.js';
import { LogLimiter, type Logger, type NodeApi, type NodeConsumerInfo } from '../core/index.js';
import type { ConsumerConfig } from '../config/index.js';

type Loose = Readonly<Record<string, unknown>>;

const str = (o: Loose | undefined, k: string, d = ''): string => (typeof o?.[k] === 'string' && o[k] !== '' ? (o[k] as string) : d);

const posInt = (o: Loose, k: string, d: number): number => (typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) > 0 ? Math.floor(o[k] as number) : d);

/**
 * Publication data mode of a consumer block whose keys end in `suffix` (`header` for RabbitMQ and
 * NATS, `value` for Redis Streams): `channels_<suffix>`, ..., `tags_<suffix>_prefix`.
 */
export function publicationDataMode(sub: Loose, suffix: 'header' | 'value'): PublicationDataModeOptions {
  const m = (sub.publication_data_mode ?? {}) as Loose;
  const d = PUBLICATION_DATA_HEADERS;
  return {
    enabled: m.enabled === true,
    channelsHeader: str(m, `channels_${suffix}`, d.channelsHeader),
    idempotencyKeyHeader: str(m, `idempotency_key_${suffix}`, d.idempotencyKeyHeader),
    deltaHeader: str(m, `delta_${suffix}`, d.deltaHeader),
    versionHeader: str(m, `version_${suffix}`, d.versionHeader),
    versionEpochHeader: str(m, `version_epoch_${suffix}`, d.versionEpochHeader),
    tagsHeaderPrefix: str(m, `tags_${suffix}_prefix`, d.tagsHeaderPrefix),
  };
}

/** What a consumer type's builder receives. */
interface BuildContext {
  config: ConsumerConfig;
  /** The consumer's own block (`config[config.type]`). */
  sub: Loose;
  /** Makes the consumer's dispatcher from its method attribute name and data mode. */
  dispatcher(methodHeader: string, mode?: PublicationDataModeOptions): Dispatcher;
  logger: Logger;
  /** This node's id (consumer names in groups, ...). */
  nodeId: string;
}

/** One builder per consumer type Gyre runs. */
const BUILDERS: Record<string, (b: BuildContext) => Consumer> = {
  postgresql: ({ config, sub, dispatcher, logger }) => {
    const tls = sub.tls as Parameters<typeof pgClientConfig>[1];
    const app = `gyre consumer ${config.name}`;
    const channel = str(sub, 'partition_notification_channel');
    const opts = {
      name: config.name,
      connection: pgClientConfig(str(sub, 'dsn'), tls, app),
      notifyConnection: pgClientConfig(str(sub, 'partition_notification_dsn', str(sub, 'dsn')), tls, `${app} listen`),
      table: str(sub, 'outbox_table_name'),
      numPartitions: posInt(sub, 'num_partitions', 1),
      selectLimit: posInt(sub, 'partition_select_limit', 100),
      pollIntervalMs: posInt(sub, 'partition_poll_interval', 300),
      notificationChannel: channel,
      useTryLock: sub.use_try_lock === true,
    };
    return new PostgresOutboxConsumer(opts, dispatcher('method'), logger);
  },
  rabbitmq: ({ config, sub, dispatcher, logger }) => {
    const prefetch = typeof sub.prefetch_count === 'number' && sub.prefetch_count > 0 ? sub.prefetch_count : 100;
    const d = dispatcher(str(sub, 'method_header', 'centrifugo-method'), publicationDataMode(sub, 'header'));
    return new RabbitMqConsumer({ name: config.name, url: str(sub, 'url'), queue: str(sub, 'queue'), prefetchCount: prefetch }, d, logger);
  },
  nats_jetstream: ({ config, sub, dispatcher, logger }) => {
    const maxAckPending = typeof sub.max_ack_pending === 'number' && sub.max_ack_pending !== 0 ? sub.max_ack_pending : 100;
    const tls = tlsConnectionOptions(sub.tls as TlsBlock | undefined);
    const d = dispatcher(str(sub, 'method_header', 'centrifugo-method'), publicationDataMode(sub, 'header'));
    const opts: NatsJetStreamOptions = {
      name: config.name,
      url: str(sub, 'url', 'nats://127.0.0.1:4222'),
      credentialsFile: str(sub, 'credentials_file'),
      username: str(sub, 'username'),
      password: str(sub, 'password'),
      token: str(sub, 'token'),
      streamName: str(sub, 'stream_name'),
      durableConsumerName: str(sub, 'durable_consumer_name'),
      useExistingConsumer: sub.use_existing_consumer === true,
      subjects: Array.isArray(sub.subjects) ? sub.subjects.filter((s): s is string => typeof s === 'string' && s !== '') : [],
      deliverPolicy: sub.deliver_policy === 'all' ? 'all' : 'new',
      maxAckPending,
    };
    // The nats client hands these options to node:tls as they are.
    if (tls) opts.tls = tls as TlsOptions;
    return new NatsJetStreamConsumer(opts, d, logger);
  },
  redis_stream: ({ config, sub, dispatcher, logger, nodeId }) => {
    const num = (k: string, d: number): number => (typeof sub[k] === 'number' && (sub[k] as number) > 0 ? (sub[k] as number) : d);
    const methodField = str(sub, 'method_value', 'method');
    // The [REDIS] keys of the block, read by the brokers' own option parsing (first shard only).
    const { prefix: _prefix, ...connection } = sub as RedisConnectionOptions;
    const factory = createRedisClientFactory({ ...connection, logger }, logger);
    const opts = {
      name: config.name,
      streams: Array.isArray(sub.streams) ? (sub.streams as unknown[]).filter((x): x is string => typeof x === 'string' && x !== '') : [],
      group: str(sub, 'consumer_group'),
      consumerName: nodeId,
      visibilityTimeoutMs: num('visibility_timeout', 30_000),
      numWorkers: Math.floor(num('num_workers', 1)),
      payloadField: str(sub, 'payload_value', 'payload'),
      methodField,
    };
    return new RedisStreamConsumer(opts, factory, dispatcher(methodField, publicationDataMode(sub, 'value')), logger);
  },
};

/** Consumer types this build runs. */
export const SERVED_CONSUMER_TYPES: readonly string[] = Object.keys(BUILDERS);

/** The consumers to run for `configs`, not started yet. */
export function buildConsumers(node: NodeApi, nodeId: string, configs: readonly ConsumerConfig[] | undefined, logger: Logger): Consumer[] {
  const out: Consumer[] = [];
  let executor: ApiExecutor | undefined;
  const limiter = new LogLimiter(logger);
  for (const config of configs ?? []) {
    const build = BUILDERS[config.type];
    if (!config.enabled || build === undefined) continue;
    const sub = ((config as unknown as Record<string, unknown>)[config.type] ?? {}) as Loose;
    const dispatcher = (methodHeader: string, mode?: PublicationDataModeOptions): Dispatcher => {
      executor ??= new ApiExecutor(node, { logger, protocol: 'consuming' });
      return new Dispatcher(executor, { name: config.name, methodHeader, publicationDataMode: mode ?? { enabled: false, ...PUBLICATION_DATA_HEADERS } }, limiter);
    };
    out.push(build({ config, sub, dispatcher, logger, nodeId }));
  }
  return out;
}

/** A consumer's state in `info`'s wire names. */
export function consumerInfo(s: ConsumerState): NodeConsumerInfo {
  const out: NodeConsumerInfo = { name: s.name, type: s.type, status: s.status, processed: s.processed, errors: s.errors };
  if (s.pending !== undefined) out.pending = s.pending;
  if (s.lastError !== undefined) out.last_error = s.lastError;
  if (s.lastErrorAt !== undefined) out.last_error_at = s.lastErrorAt;
  return out;
}
