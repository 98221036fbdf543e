/** Redis broker and presence manager (server.md §6.2): history, PUB/SUB fan-out, sharding, Cluster, Sentinel. */
export { RedisBroker, REDIS_DEFAULT_HISTORY_META_TTL_MS, REDIS_DEFAULT_IDEMPOTENT_RESULT_TTL_MS } from './redis-broker.js';
export { RedisPresenceManager, REDIS_DEFAULT_PRESENCE_TTL_MS } from './redis-presence.js';
export type { RedisBrokerOptions, RedisConnectionOptions, RedisPresenceOptions, RedisTlsOptions } from './options.js';
export { shardIndex, type RedisClient } from './connection.js';
export type { PubSubErrorCounts } from './subscriber.js';
export { createRedisClientFactory, type RedisClientFactory, type RedisClientRequest } from './client-factory.js';
export { RedisChannelState, type RedisChannelStateOptions } from './redis-channel-state.js';
export { RedisMapBroker, REDIS_MAP_DEFAULT_CLEANUP_BATCH_SIZE, REDIS_MAP_DEFAULT_CLEANUP_INTERVAL_MS, REDIS_MAP_DEFAULT_IDEMPOTENT_RESULT_TTL_MS } from './redis-map-broker.js';
export type { RedisMapBrokerOptions } from './redis-map-broker.js';
