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
import { PostgresBroker, PostgresController, PostgresMapBroker } from './postgres/index.js';
import type { PostgresBrokerOptions, PostgresControllerOptions, PostgresMapBrokerOptions } from './postgres/index.js';
import { RedisBroker, RedisChannelState, RedisMapBroker, RedisPresenceManager } from './redis/index.js';
import type { PubSubErrorCounts, RedisBrokerOptions, RedisConnectionOptions, RedisMapBrokerOptions, RedisPresenceOptions } from './redis/index.js';

export { BrokerError } from './errors.js';
export type { BrokerErrorCode } from './errors.js';
export type { MemoryBrokerOptions, MemoryMapBrokerOptions } from './memory/index.js';
export type { NatsBrokerOptions } from './nats/index.js';
export type { PostgresBrokerOptions, PostgresControllerOptions, PostgresMapBrokerOptions } from './postgres/index.js';
export { createRedisClientFactory } from './redis/index.js';
export type { PubSubErrorCounts, RedisClient, RedisClientFactory, RedisClientRequest } from './redis/index.js';
/** pg connection settings of a DSN plus a TLS block, for consumers that open their own PostgreSQL connections. */
export { clientConfig as pgClientConfig } from './postgres/pool.js';
export type { RedisBrokerOptions, RedisConnectionOptions, RedisMapBrokerOptions, RedisPresenceOptions, RedisTlsOptions } from './redis/index.js';

/** Broker types this build can create. */
export type BrokerType = 'memory' | 'redis' | 'nats' | 'postgres';
/** Presence manager types this build can create. */
export type PresenceManagerType = 'memory' | 'redis';
/** Options of any broker type; each type reads only its own keys. */
export type AnyBrokerOptions = MemoryBrokerOptions | RedisBrokerOptions | NatsBrokerOptions | PostgresBrokerOptions;

/**
 * Creates a broker of the given type (not yet running: the node calls `run`). `redis` takes the
 * config's `broker.redis` / `engine.redis` section, `nats` its `broker.nats` section; both are also
 * the node-to-node Controller (see `brokerController`). `postgres` takes `broker.postgres` and is
 * not a Controller. Throws a BrokerError with code
 * `unknown_broker` for a type this build does not provide (config validation should have caught it
 * earlier).
 */
export function createBroker(type: 'memory', opts?: MemoryBrokerOptions): Broker;
export function createBroker(type: 'redis', opts?: RedisBrokerOptions): Broker & Controller;
export function createBroker(type: 'nats', opts?: NatsBrokerOptions): Broker & Controller;
export function createBroker(type: 'postgres', opts?: PostgresBrokerOptions): PostgresBroker;
export function createBroker(type: string, opts?: AnyBrokerOptions): Broker;
export function createBroker(type: string, opts: AnyBrokerOptions = {}): Broker {
  switch (type) {
    case 'memory':
      return new MemoryBroker(opts as MemoryBrokerOptions);
    case 'redis':
      return new RedisBroker(opts as RedisBrokerOptions);
    case 'nats':
      return new NatsBroker(opts as NatsBrokerOptions);
    case 'postgres':
      return new PostgresBroker(opts as PostgresBrokerOptions);
    default:
      throw new BrokerError('unknown_broker', `unknown broker type "${type}" (available: memory, redis, nats, postgres)`);
  }
}

/** The broker as a node-to-node Controller when it is one (Redis, NATS); undefined for memory. */
export function brokerController(broker: Broker): Controller | undefined {
  return broker instanceof RedisBroker || broker instanceof NatsBroker ? broker : undefined;
}

/**
 * The PUB/SUB failure counters of a Redis broker or Redis map broker (read, never reset);
 * undefined for other types, which have no PUB/SUB connection of their own.
 */
export function redisPubSubErrors(broker: Broker | MapBroker): Readonly<PubSubErrorCounts> | undefined {
  return broker instanceof RedisBroker || broker instanceof RedisMapBroker ? broker.pubSubErrors : undefined;
}

/** Dedicated controller types this build can create (`controller.type`). */
export type ControllerType = 'postgres';

/** A dedicated node-to-node Controller, which owns its connections until `close()`. */
export type ClosableController = Controller & { close(): Promise<void> };

/**
 * Creates a dedicated controller (not yet running: the node's cluster calls `runControl`).
 * `postgres` takes the config's `controller.postgres` section (durations in ms). Throws a
 * BrokerError with code `unknown_broker` for a type this build does not provide.
 */
export function createController(type: 'postgres', opts?: PostgresControllerOptions): ClosableController;
export function createController(type: string, opts?: PostgresControllerOptions): ClosableController;
export function createController(type: string, opts: PostgresControllerOptions = {}): ClosableController {
  if (type === 'postgres') return new PostgresController(opts);
  throw new BrokerError('unknown_broker', `unknown controller type "${type}" (available: postgres)`);
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
export type MapBrokerType = 'memory' | 'redis' | 'postgres';

/** Options of any map broker type; each type reads only its own keys. */
export type AnyMapBrokerOptions = MemoryMapBrokerOptions | RedisMapBrokerOptions | PostgresMapBrokerOptions;

/**
 * Creates a map broker (not yet running: the node calls `run`). `redis` takes the config's
 * `map_broker.redis` section, `postgres` its `map_broker.postgres` section (durations in ms).
 * Throws a BrokerError with code `unknown_broker` for a type this build does not provide.
 */
export function createMapBroker(type: 'memory', opts?: MemoryMapBrokerOptions): MapBroker;
export function createMapBroker(type: 'redis', opts?: RedisMapBrokerOptions): MapBroker;
export function createMapBroker(type: 'postgres', opts?: PostgresMapBrokerOptions): MapBroker;
export function createMapBroker(type: string, opts?: AnyMapBrokerOptions): MapBroker;
export function createMapBroker(type: string, opts: AnyMapBrokerOptions = {}): MapBroker {
  switch (type) {
    case 'memory':
      return new MemoryMapBroker(opts as MemoryMapBrokerOptions);
    case 'redis':
      return new RedisMapBroker(opts as RedisMapBrokerOptions);
    case 'postgres':
      return new PostgresMapBroker(opts as PostgresMapBrokerOptions);
    default:
      throw new BrokerError('unknown_broker', `unknown map broker type "${type}" (available: memory, redis, postgres)`);
  }
}
