/**
 * Cluster-wide channel occupancy in Redis, for channel state events (occupied / vacated).
 *
 * Per shard, three keys (in Redis Cluster they share the `{state}` hash tag, so every script
 * touches one slot):
 * - `<prefix>.state.members`: sorted set of `<node id> <channel>`, scored by the membership's
 *   expiry (Unix ms). A node is a member of a channel while it holds at least one subscriber;
 *   it re-adds its memberships every `memberTtlMs / 3`.
 * - `<prefix>.state.nodes`: hash channel → how many nodes are members.
 * - `<prefix>.state.pending`: sorted set of channels whose vacated event is due, scored by the
 *   due time.
 *
 * Why exactly once: every transition runs inside one Lua script, and Redis runs scripts one at
 * a time. The join script reports "occupied" only to the caller that moves the node count from
 * 0 to 1 while no vacated is pending; a join that finds one pending removes it instead (the
 * episode goes on, nothing is reported). The leave script that moves the count to 0 schedules
 * the channel in `pending`. The sweep script, which every node runs periodically, removes due
 * channels from `pending` and returns them: ZREM inside the script means one sweeper, on one
 * node, gets each channel, and that node queues the vacated event.
 *
 * Crashed nodes: a node that dies keeps its memberships only until their expiry; the next sweep
 * on any node removes them as leaves, so the channel gets its vacated event about memberTtlMs +
 * the vacated delay after the crash. What a crash loses is what the dead node had queued but not
 * sent (an occupied it was told to send; vacated events it had swept). When no node runs, due
 * channels stay in `pending` and the first node to start sends them.
 *
 * Scores come from each node's clock: nodes are assumed to agree on time within a small
 * fraction of memberTtlMs (NTP).
 */
import { randomUUID } from 'node:crypto';
import { channelStateEvent, systemClock, type ChannelStateHandler, type ChannelStateStore, type Clock, type Logger } from '../../core/index.js';
import { LuaScript } from './connection.js';
import type { RedisConnectionOptions } from './options.js';
import { buildShards, connectShards, disconnectShards, shardFor, type RedisShard } from './shards.js';

/**
 * Join or refresh memberships. KEYS: members, nodes, pending. ARGV: 1 node id, 2 expiry (ms),
 * 3.. channels. Returns the channels whose episode this call started (occupied is due).
 */
const STATE_JOIN = new LuaScript(`
local started = {}
for i = 3, #ARGV do
  local ch = ARGV[i]
  if redis.call('zadd', KEYS[1], ARGV[2], ARGV[1] .. ' ' .. ch) == 1 then
    if redis.call('hincrby', KEYS[2], ch, 1) == 1 then
      if redis.call('zrem', KEYS[3], ch) == 0 then started[#started + 1] = ch end
    end
  end
end
return started
`);

/** Leave. KEYS: as STATE_JOIN. ARGV: 1 node id, 2 channel, 3 vacated due time (ms). */
const STATE_LEAVE = new LuaScript(`
if redis.call('zrem', KEYS[1], ARGV[1] .. ' ' .. ARGV[2]) == 0 then return 0 end
if redis.call('hincrby', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('hdel', KEYS[2], ARGV[2])
  redis.call('zadd', KEYS[3], ARGV[3], ARGV[2])
end
return 1
`);

/**
 * Sweep. KEYS: as STATE_JOIN. ARGV: 1 now (ms), 2 vacated delay (ms), 3 limit. Expired
 * memberships (nodes that stopped refreshing) leave; then due channels are taken out of
 * pending and returned: the caller owes their vacated events.
 */
const STATE_SWEEP = new LuaScript(`
local now = tonumber(ARGV[1])
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
for _, m in ipairs(expired) do
  redis.call('zrem', KEYS[1], m)
  local sp = string.find(m, ' ', 1, true)
  local ch = string.sub(m, sp + 1)
  if redis.call('hincrby', KEYS[2], ch, -1) <= 0 then
    redis.call('hdel', KEYS[2], ch)
    redis.call('zadd', KEYS[3], now + tonumber(ARGV[2]), ch)
  end
end
local due = redis.call('zrangebyscore', KEYS[3], '-inf', now, 'LIMIT', 0, ARGV[3])
for _, ch in ipairs(due) do redis.call('zrem', KEYS[3], ch) end
return due
`);

export interface RedisChannelStateOptions extends RedisConnectionOptions {
  /** Wait before a vacated event, ms. */
  vacatedDelayMs: number;
  /** How long a node's membership lives without a refresh; default 30 s. */
  memberTtlMs?: number;
  /** How often this node sweeps; default a quarter of the delay, between 50 ms and 1 s. */
  sweepIntervalMs?: number;
  clock?: Clock;
}

const SWEEP_LIMIT = 1000;
const JOIN_BATCH = 500;

interface StateKeys {
  members: string;
  nodes: string;
  pending: string;
}

function stateKeys(shard: RedisShard): StateKeys {
  const base = shard.keys.cluster ? `${shard.keys.prefix}.{state}` : `${shard.keys.prefix}.state`;
  return { members: `${base}.members`, nodes: `${base}.nodes`, pending: `${base}.pending` };
}

/** See the file comment. Connects on start(); calls reject while Redis is unreachable. */
export class RedisChannelState implements ChannelStateStore {
  /** This process's membership identity (any unique string without spaces). */
  readonly nodeId = randomUUID();
  private readonly shards: RedisShard[];
  private readonly clock: Clock;
  private readonly memberTtlMs: number;
  private readonly sweepIntervalMs: number;
  private handler: ChannelStateHandler | undefined;
  private connecting: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private sweeping = false;
  private refreshing = false;
  private closed = false;

  constructor(
    private readonly opts: RedisChannelStateOptions,
    private readonly logger?: Logger,
  ) {
    this.shards = buildShards(opts, logger);
    this.clock = opts.clock ?? systemClock;
    this.memberTtlMs = opts.memberTtlMs ?? 30_000;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.max(50, Math.min(1000, Math.floor(opts.vacatedDelayMs / 4)));
  }

  start(handler: ChannelStateHandler): void {
    this.handler = handler;
    this.connecting = connectShards(this.shards).catch((err: unknown) => this.logger?.warn({ err }, 'redis channel state: first connection failed'));
    const sweep = setInterval(() => void this.sweep(), this.sweepIntervalMs);
    const refresh = setInterval(() => void this.refresh(), Math.max(100, Math.floor(this.memberTtlMs / 3)));
    sweep.unref();
    refresh.unref();
    this.timers.push(sweep, refresh);
  }

  async nodeJoined(channel: string): Promise<void> {
    await this.join(shardFor(this.shards, channel), [channel]);
  }

  async nodeLeft(channel: string): Promise<void> {
    await this.connecting;
    const shard = shardFor(this.shards, channel);
    const k = stateKeys(shard);
    await STATE_LEAVE.run(shard.cmd, [k.members, k.nodes, k.pending], [this.nodeId, channel, this.clock.now() + this.opts.vacatedDelayMs]);
  }

  /** Stops sweeping and refreshing and disconnects. Memberships left by then stay for other nodes to sweep. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.connecting;
    disconnectShards(this.shards);
  }

  private async join(shard: RedisShard, channels: string[]): Promise<void> {
    await this.connecting;
    if (this.closed) return;
    const k = stateKeys(shard);
    const started = (await STATE_JOIN.run(shard.cmd, [k.members, k.nodes, k.pending], [this.nodeId, this.clock.now() + this.memberTtlMs, ...channels])) as Buffer[];
    for (const ch of started) this.handler?.event(channelStateEvent(ch.toString(), 'occupied', this.clock));
  }

  /** Runs the sweep script on every shard; one sweep at a time on this node. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.closed) return;
    this.sweeping = true;
    try {
      await this.connecting;
      for (const shard of this.shards) {
        if (this.closed) break;
        const k = stateKeys(shard);
        const due = (await STATE_SWEEP.run(shard.cmd, [k.members, k.nodes, k.pending], [this.clock.now(), this.opts.vacatedDelayMs, SWEEP_LIMIT])) as Buffer[];
        for (const ch of due) this.handler?.event(channelStateEvent(ch.toString(), 'vacated', this.clock));
      }
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'redis channel state: sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Pushes the expiry of every membership this node holds forward; a membership another node
   * swept meanwhile (this node was cut off longer than memberTtlMs) is re-created, which may
   * start a new episode (occupied).
   */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.closed || !this.handler) return;
    this.refreshing = true;
    try {
      const byShard = new Map<RedisShard, string[]>();
      for (const ch of this.handler.held()) {
        const s = shardFor(this.shards, ch);
        let list = byShard.get(s);
        if (!list) byShard.set(s, (list = []));
        list.push(ch);
      }
      const runs: Promise<void>[] = [];
      for (const [shard, list] of byShard) {
        for (let i = 0; i < list.length; i += JOIN_BATCH) runs.push(this.join(shard, list.slice(i, i + JOIN_BATCH)));
      }
      await Promise.all(runs);
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'redis channel state: refresh failed');
    } finally {
      this.refreshing = false;
    }
  }
}
