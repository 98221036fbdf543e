/** Pub/sub-only NATS broker (server.md §6.3). */
export { NatsBroker, NATS_DEFAULT_IDEMPOTENT_RESULT_TTL_MS } from './nats-broker.js';
export type { NatsBrokerOptions } from './nats-broker.js';
