/**
 * The shards of a Redis broker or presence manager: one command client each (plus, for brokers, a
 * PUB/SUB subscriber), and the consistent choice of a shard per channel.
 */
import type { Logger } from '../../core/index.js';
import { connectClient, createCommandClient, shardIndex } from './connection.js';
import type { RedisClient } from './connection.js';
import { RedisKeys } from './keys.js';
import { shardSpecs } from './options.js';
import type { RedisConnectionOptions, ShardSpec } from './options.js';

/** One Redis shard: how to reach it, its command client and its key names. */
export interface RedisShard {
  readonly spec: ShardSpec;
  readonly cmd: RedisClient;
  readonly keys: RedisKeys;
}

/** Builds (without connecting) one shard per configured address, cluster or sentinel entry. */
export function buildShards(opts: RedisConnectionOptions, logger?: Logger): RedisShard[] {
  const prefix = opts.prefix || 'centrifugo';
  return shardSpecs(opts).map((spec) => ({ spec, cmd: createCommandClient(spec, logger), keys: new RedisKeys(prefix, spec.mode === 'cluster') }));
}

/** The shard owning `channel`: jump consistent hash over FNV-1a 64 when there are several. */
export function shardFor<T>(shards: readonly T[], channel: string): T {
  return shards[shardIndex(channel, shards.length)]!;
}

/** Connects every command client; rejects with a BrokerError if one cannot connect. */
export async function connectShards(shards: readonly RedisShard[]): Promise<void> {
  await Promise.all(shards.map((s) => connectClient(s.cmd)));
}

/** Disconnects every command client at once (pending commands reject). */
export function disconnectShards(shards: readonly RedisShard[]): void {
  for (const s of shards) s.cmd.disconnect();
}
