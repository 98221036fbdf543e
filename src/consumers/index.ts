/** Async consumers' public face for the composition root. */
export { ConsumerStats, PUBLICATION_DATA_HEADERS, retryDelayMs } from './consumer.js';
export type { Consumer, ConsumerState, ConsumerStatus, PublicationDataModeOptions } from './consumer.js';
export { CONSUMER_METHODS, Dispatcher, parseBool, type DispatchOutcome, type DispatcherOptions } from './dispatcher.js';
export { RabbitMqConsumer, type RabbitMqOptions } from './rabbitmq.js';
export { NatsJetStreamConsumer, type NatsJetStreamOptions } from './nats-jetstream.js';
export { RedisStreamConsumer, type RedisStreamOptions, type StreamClientFactory, type StreamRedisClient } from './redis-stream.js';
export { outboxTableIdentifier, PostgresOutboxConsumer, type PostgresOutboxOptions } from './postgresql.js';
