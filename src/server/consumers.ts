/**
 * Builds the configured async consumers (enabled ones of a type Gyre runs: rabbitmq) over one
 * ApiExecutor whose call events carry protocol `consuming`.
 */
import { ApiExecutor } from '../api/index.js';
import { Dispatcher, RabbitMqConsumer, type Consumer } from '../consumers/index.js';
import { LogLimiter, type Logger, type NodeApi } from '../core/index.js';
import type { ConsumerConfig } from '../config/index.js';

type Loose = Readonly<Record<string, unknown>>;

const str = (o: Loose | undefined, k: string, d = ''): string => (typeof o?.[k] === 'string' ? (o[k] as string) : d);

/** The consumers to run for `configs`, not started yet. */
export function buildConsumers(node: NodeApi, configs: readonly ConsumerConfig[] | undefined, logger: Logger): Consumer[] {
  const out: Consumer[] = [];
  let executor: ApiExecutor | undefined;
  const limiter = new LogLimiter(logger);
  for (const c of configs ?? []) {
    if (!c.enabled || c.type !== 'rabbitmq') continue;
    executor ??= new ApiExecutor(node, { logger, protocol: 'consuming' });
    const r = c.rabbitmq;
    const mode = (r.publication_data_mode ?? {}) as Loose;
    const dispatcher = new Dispatcher(
      executor,
      {
        name: c.name,
        methodHeader: str(r, 'method_header', 'centrifugo-method'),
        publicationDataMode: {
          enabled: mode.enabled === true,
          channelsHeader: str(mode, 'channels_header', 'centrifugo-channels'),
          idempotencyKeyHeader: str(mode, 'idempotency_key_header', 'centrifugo-idempotency-key'),
          deltaHeader: str(mode, 'delta_header', 'centrifugo-delta'),
          tagsHeaderPrefix: str(mode, 'tags_header_prefix', 'centrifugo-tag-'),
        },
      },
      limiter,
    );
    const prefetch = typeof r.prefetch_count === 'number' && r.prefetch_count > 0 ? r.prefetch_count : 100;
    out.push(new RabbitMqConsumer({ name: c.name, url: str(r, 'url'), queue: str(r, 'queue'), prefetchCount: prefetch }, dispatcher, logger));
  }
  return out;
}
