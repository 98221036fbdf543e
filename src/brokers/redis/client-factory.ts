/**
 * Connected ioredis clients of a [REDIS] connection block for code outside the brokers (the
 * redis_stream consumer): the first shard's spec, the brokers' client settings.
 */
import type { Logger } from '../../core/index.js';
import { connectClient, createCommandClient, type RedisClient } from './connection.js';
import { shardSpecs, type RedisConnectionOptions } from './options.js';

/** Options of one client made by a RedisClientFactory. */
export interface RedisClientRequest {
  /** The client runs blocking commands up to this long: its command timeout grows by it. */
  blockMs?: number;
}

/** Makes a new client and resolves once it is ready; rejects (client closed) when the first connect fails. */
export type RedisClientFactory = (req?: RedisClientRequest) => Promise<RedisClient>;

/**
 * A factory of clients of the first shard of `opts` (other shards are ignored). Throws a
 * BrokerError at once for malformed addresses. Made clients reconnect by themselves; commands
 * sent while disconnected fail at once.
 */
export function createRedisClientFactory(opts: RedisConnectionOptions, logger?: Logger): RedisClientFactory {
  const spec = shardSpecs(opts)[0]!;
  return async (req = {}) => {
    const client = createCommandClient(req.blockMs ? { ...spec, ioTimeoutMs: spec.ioTimeoutMs + req.blockMs } : spec, logger);
    try {
      await connectClient(client);
    } catch (err) {
      client.disconnect();
      throw err;
    }
    return client;
  };
}
