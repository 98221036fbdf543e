import type { Clock, PresenceManager, PresenceStats } from '../../core/index.js';
import { systemClock } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { decodeClientInfo, encodeClientInfo } from '../envelope.js';
import { BrokerError } from '../errors.js';
import { backendError } from './connection.js';
import type { RedisPresenceOptions } from './options.js';
import { PRESENCE_ADD, PRESENCE_READ, PRESENCE_REMOVE } from './scripts.js';
import { buildShards, connectShards, disconnectShards, shardFor } from './shards.js';
import type { RedisShard } from './shards.js';
import type { LuaScript } from './connection.js';

/** Default presence entry lifetime without a refresh: 60 s. */
export const REDIS_DEFAULT_PRESENCE_TTL_MS = 60_000;

/**
 * Presence in Redis (subscriptions.md §2.1, server.md §6.2.3): per channel a hash clientId →
 * encoded ClientInfo and a sorted set of expiry times. Entries not refreshed within `presence_ttl`
 * vanish: reads drop expired entries first, and the keys themselves expire when nobody refreshes.
 * With `presence_user_mapping` a per-user entry count makes presenceStats O(1); without it the
 * stats script counts distinct users server-side. Connects on construction; while Redis is
 * unreachable calls reject with code `backend_error`.
 */
export class RedisPresenceManager implements PresenceManager {
  private readonly shards: RedisShard[];
  private readonly ttlMs: number;
  private readonly mapping: '0' | '1';
  private readonly clock: Clock;
  private readonly connecting: Promise<void>;
  private closed = false;

  constructor(opts: RedisPresenceOptions = {}) {
    this.shards = buildShards(opts, opts.logger);
    this.ttlMs = opts.presence_ttl && opts.presence_ttl > 0 ? Math.ceil(opts.presence_ttl) : REDIS_DEFAULT_PRESENCE_TTL_MS;
    this.mapping = opts.presence_user_mapping ? '1' : '0';
    this.clock = opts.clock ?? systemClock;
    this.connecting = connectShards(this.shards).catch((err: unknown) => opts.logger?.warn({ err }, 'redis presence: first connection failed'));
  }

  /** Live entries keyed by client id; `{}` when nobody is present. */
  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const reply = (await this.run(channel, PRESENCE_READ, [String(this.clock.now()), this.mapping, 'all'])) as Buffer[];
    const result: Record<string, ClientInfo> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) result[reply[i]!.toString()] = decodeClientInfo(reply[i + 1]!);
    return result;
  }

  /** Live entry count and distinct users (the anonymous "" user counts as one). */
  async presenceStats(channel: string): Promise<PresenceStats> {
    const [numClients, numUsers] = (await this.run(channel, PRESENCE_READ, [String(this.clock.now()), this.mapping, 'stats'])) as [number, number];
    return { numClients: Number(numClients), numUsers: Number(numUsers) };
  }

  /** Adds or refreshes the client's entry for another presence_ttl. */
  async addPresence(channel: string, clientId: string, info: ClientInfo): Promise<void> {
    const now = this.clock.now();
    await this.run(channel, PRESENCE_ADD, [clientId, encodeClientInfo(info), String(now + this.ttlMs), String(this.ttlMs), this.mapping]);
  }

  /** Removes the client's entry if present; the stored entry's user is authoritative over `userId`. */
  async removePresence(channel: string, clientId: string, _userId: string): Promise<void> {
    await this.run(channel, PRESENCE_REMOVE, [clientId, this.mapping]);
  }

  /** Closes the connections; later calls reject with code `broker_closed`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    disconnectShards(this.shards);
  }

  private async run(channel: string, script: LuaScript, args: (string | Buffer)[]): Promise<unknown> {
    if (this.closed) throw new BrokerError('broker_closed', 'redis presence manager is closed');
    await this.connecting;
    const shard = shardFor(this.shards, channel);
    const keys = [shard.keys.presenceExpire(channel), shard.keys.presenceData(channel), shard.keys.presenceUserClients(channel)];
    try {
      return await script.run(shard.cmd, keys, args);
    } catch (err) {
      throw backendError('redis presence failed', err);
    }
  }
}
