/**
 * The one factory that names concrete brokers and presence managers. Only server/ calls it;
 * everything else sees the Broker and PresenceManager ports.
 */
import type { Broker, ChannelStateStore, Controller, Logger, MapBroker, PresenceManager } from '../core/index.js';
import { BrokerError } from './errors.js';
import { MemoryBroker, MemoryChannelState, MemoryMapBroker, MemoryPresenceManager } from './memory/index.js';
import type { MemoryBrokerOptions, MemoryMapBrokerOptions } from './memory/index.js';
import { NatsBroker } from './nats/index.js';
import type { NatsBrokerOptions } from './nats/index.js';
import { RedisBroker, RedisChannelState, RedisMapBroker, RedisPresenceManager } from './redis/index.js';
import type { RedisBrokerOptions, RedisConnectionOptions, RedisMapBrokerOptions, RedisPresenceOptions } from './redis/index.js';

export { BrokerError } from './errors.js';
export type { BrokerErrorCode } from './errors.js';
export type { MemoryBrokerOptions, MemoryMapBrokerOptions } from './memory/index.js';
export type { NatsBrokerOptions } from './nats/index.js';
export { createRedisClientFactory } from './redis/index.js';
export type { RedisClient, RedisClientFactory, RedisClientRequest } from './redis/index.js';
export type { RedisBrokerOptions, RedisConnectionOptions, RedisMapBrokerOptions, RedisPresenceOptions, RedisTlsOptions } from './redis/index.js';

/** Broker types this build can create. */
export type BrokerType = 'memory' | 'redis' | 'nats';
/** Presence manager types this build can create. */
export type PresenceManagerType = 'memory' | 'redis';
/** Options of any broker type; each type reads only its own keys. */
export type AnyBrokerOptions = MemoryBrokerOptions | RedisBrokerOptions | NatsBrokerOptions;

/**
 * Creates a broker of the given type (not yet running: the node calls `run`). `redis` takes the
 * config's `broker.redis` / `engine.redis` section, `nats` its `broker.nats` section; both are also
 * the node-to-node Controller (see `brokerController`). Throws a BrokerError with code
 * `unknown_broker` for a type this build does not provide (config validation should have caught it
 * earlier).
 */
export function createBroker(type: 'memory', opts?: MemoryBrokerOptions): Broker;
export function createBroker(type: 'redis', opts?: RedisBrokerOptions): Broker & Controller;
export function createBroker(type: 'nats', opts?: NatsBrokerOptions): Broker & Controller;
export function createBroker(type: string, opts?: AnyBrokerOptions): Broker;
export function createBroker(type: string, opts: AnyBrokerOptions = {}): Broker {
  switch (type) {
    case 'memory':
      return new MemoryBroker(opts as MemoryBrokerOptions);
    case 'redis':
      return new RedisBroker(opts as RedisBrokerOptions);
    case 'nats':
      return new NatsBroker(opts as NatsBrokerOptions);
    default:
      throw new BrokerError('unknown_broker', `unknown broker type "${type}" (available: memory, redis, nats)`);
  }
}

/** The broker as a node-to-node Controller when it is one (Redis, NATS); undefined for memory. */
export function brokerController(broker: Broker): Controller | undefined {
  return broker instanceof RedisBroker || broker instanceof NatsBroker ? broker : undefined;
}

/**
 * Creates a presence manager of the given type. `redis` takes the config's
 * `presence_manager.redis` / `engine.redis` section and connects at once. Throws a BrokerError with
 * code `unknown_broker` for a type this build does not provide.
 */
export function createPresenceManager(type: 'memory', opts?: Record<string, never>): PresenceManager;
export function createPresenceManager(type: 'redis', opts?: RedisPresenceOptions): PresenceManager;
export function createPresenceManager(type: string, opts?: RedisPresenceOptions): PresenceManager;
export function createPresenceManager(type: string, opts: RedisPresenceOptions = {}): PresenceManager {
  switch (type) {
    case 'memory':
      return new MemoryPresenceManager();
    case 'redis':
      return new RedisPresenceManager(opts);
    default:
      throw new BrokerError('unknown_broker', `unknown presence manager type "${type}" (available: memory, redis)`);
  }
}

/**
 * Creates the store behind channel state events: `memory` for one node (also the choice when
 * the broker is not Redis: each node then reports its own subscribers only), `redis` for a
 * cluster sharing the given Redis connection section (engine.redis or broker.redis).
 */
export function createChannelStateStore(type: 'memory' | 'redis', opts: { vacatedDelayMs: number; redis?: RedisConnectionOptions; logger?: Logger }): ChannelStateStore {
  if (type === 'redis') return new RedisChannelState({ ...(opts.redis ?? {}), vacatedDelayMs: opts.vacatedDelayMs }, opts.logger);
  return new MemoryChannelState({ vacatedDelayMs: opts.vacatedDelayMs });
}

/** Map broker types this build can create. */
export type MapBrokerType = 'memory' | 'redis';

/**
 * Creates a map broker (not yet running: the node calls `run`). `redis` takes the config's
 * `map_broker.redis` section (durations in ms). Throws a BrokerError with code `unknown_broker` for
 * a type this build does not provide (`postgres` is not implemented yet).
 */
export function createMapBroker(type: 'memory', opts?: MemoryMapBrokerOptions): MapBroker;
export function createMapBroker(type: 'redis', opts?: RedisMapBrokerOptions): MapBroker;
export function createMapBroker(type: string, opts?: MemoryMapBrokerOptions | RedisMapBrokerOptions): MapBroker;
export function createMapBroker(type: string, opts: MemoryMapBrokerOptions | RedisMapBrokerOptions = {}): MapBroker {
  switch (type) {
    case 'memory':
      return new MemoryMapBroker(opts as MemoryMapBrokerOptions);
    case 'redis':
      return new RedisMapBroker(opts as RedisMapBrokerOptions);
    default:
      throw new BrokerError('unknown_broker', `unknown map broker type "${type}" (available: memory, redis)`);
  }
}
