/** Async consumers' public face for the composition root. */
export type { Consumer, PublicationDataModeOptions } from './consumer.js';
export { Dispatcher, type DispatchOutcome, type DispatcherOptions } from './dispatcher.js';
export { RabbitMqConsumer, type RabbitMqOptions } from './rabbitmq.js';
