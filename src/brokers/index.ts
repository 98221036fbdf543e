/**
 * The one factory that names concrete brokers and presence managers. Only server/ calls it;
 * everything else sees the Broker and PresenceManager ports.
 */
import type { Broker, PresenceManager } from '../core/ports.js';
import { BrokerError } from './errors.js';
import { MemoryBroker, MemoryPresenceManager } from './memory/index.js';
import type { MemoryBrokerOptions } from './memory/index.js';

export { BrokerError } from './errors.js';
export type { BrokerErrorCode } from './errors.js';
export type { MemoryBrokerOptions } from './memory/index.js';

/** Broker types this build can create. */
export type BrokerType = 'memory';
/** Presence manager types this build can create. */
export type PresenceManagerType = 'memory';

/**
 * Creates a broker of the given type. Throws a BrokerError with code `unknown_broker` for a type
 * this build does not provide (config validation should have caught it earlier).
 */
export function createBroker(type: 'memory', opts?: MemoryBrokerOptions): Broker;
export function createBroker(type: string, opts?: MemoryBrokerOptions): Broker;
export function createBroker(type: string, opts: MemoryBrokerOptions = {}): Broker {
  switch (type) {
    case 'memory':
      return new MemoryBroker(opts);
    default:
      throw new BrokerError('unknown_broker', `unknown broker type "${type}" (available: memory)`);
  }
}

/**
 * Creates a presence manager of the given type. Throws a BrokerError with code `unknown_broker`
 * for a type this build does not provide.
 */
export function createPresenceManager(type: 'memory', opts?: Record<string, never>): PresenceManager;
export function createPresenceManager(type: string, opts?: Record<string, never>): PresenceManager;
export function createPresenceManager(type: string, _opts: Record<string, never> = {}): PresenceManager {
  switch (type) {
    case 'memory':
      return new MemoryPresenceManager();
    default:
      throw new BrokerError('unknown_broker', `unknown presence manager type "${type}" (available: memory)`);
  }
}
