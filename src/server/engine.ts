/**
 * Picks the broker, presence manager and node-to-node controller from the engine,
 * broker, presence_manager and controller sections, as Centrifugo does: a separate broker,
 * presence manager or controller, when enabled, overrides the engine's.
 */
import {
  brokerController,
  createBroker,
  createController,
  createPresenceManager,
  type NatsBrokerOptions,
  type PostgresBrokerOptions,
  type PostgresControllerOptions,
  type RedisBrokerOptions,
  type RedisPresenceOptions,
} from '../brokers/index.js';
import type { Broker, Controller, Logger, PresenceManager } from '../core/index.js';

export interface EngineSections {
  engine?: { type?: string; redis?: object };
  broker?: { enabled?: boolean; type?: string; redis?: object; nats?: object; postgres?: object };
  presence_manager?: { enabled?: boolean; type?: string; redis?: object };
  controller?: { enabled?: boolean; type?: string; postgres?: object };
  /** Global default meta TTL in ms (channel.history_meta_ttl). */
  historyMetaTtlMs?: number;
}

export interface Engine {
  broker: Broker;
  presenceManager: PresenceManager;
  /** The dedicated controller when enabled, else the broker when it connects nodes (Redis, NATS). */
  controller: Controller | undefined;
  /** Closes the dedicated controller (a broker acting as controller is closed with the node). */
  closeController: () => Promise<void>;
  /** Short description for the start log, e.g. "redis" or "nats+memory". */
  description: string;
}

/** Builds the ports; throws an Error naming the section for a type Gyre does not implement. */
export function buildEngine(s: EngineSections, logger: Logger): Engine {
  const engineType = s.engine?.type || 'memory';
  if (engineType !== 'memory' && engineType !== 'redis') throw new Error(`engine.type: unknown engine "${engineType}"`);
  const meta = s.historyMetaTtlMs ? { defaultHistoryMetaTtlMs: s.historyMetaTtlMs } : {};

  let broker: Broker;
  let brokerType: string;
  if (s.broker?.enabled) {
    brokerType = s.broker.type || 'memory';
    if (brokerType === 'redis') broker = createBroker('redis', { ...(s.broker.redis as RedisBrokerOptions), logger, ...meta });
    else if (brokerType === 'nats') broker = createBroker('nats', { ...(s.broker.nats as NatsBrokerOptions), logger });
    else if (brokerType === 'postgres') broker = createBroker('postgres', { ...(s.broker.postgres as PostgresBrokerOptions), logger, ...meta });
    else if (brokerType === 'memory') broker = createBroker('memory', meta);
    else throw new Error(`broker.type: "${brokerType}" is not supported yet`);
  } else {
    brokerType = engineType;
    broker =
      engineType === 'redis'
        ? createBroker('redis', { ...(s.engine?.redis as RedisBrokerOptions), logger, ...meta })
        : createBroker('memory', meta);
  }

  let presenceManager: PresenceManager;
  let presenceType: string;
  if (s.presence_manager?.enabled) {
    presenceType = s.presence_manager.type || 'memory';
    if (presenceType === 'redis') presenceManager = createPresenceManager('redis', { ...(s.presence_manager.redis as RedisPresenceOptions), logger } as RedisPresenceOptions);
    else if (presenceType === 'memory') presenceManager = createPresenceManager('memory');
    else throw new Error(`presence_manager.type: "${presenceType}" is not supported yet`);
  } else {
    presenceType = engineType;
    presenceManager =
      engineType === 'redis'
        ? createPresenceManager('redis', { ...(s.engine?.redis as RedisPresenceOptions), logger } as RedisPresenceOptions)
        : createPresenceManager('memory');
  }

  const description = brokerType === presenceType ? brokerType : `${brokerType}+${presenceType}`;
  if (s.controller?.enabled) {
    const type = s.controller.type || '';
    if (type !== 'postgres') throw new Error(`controller.type: unknown controller type "${type}" (supported: postgres)`);
    const controller = createController('postgres', { ...(s.controller.postgres as PostgresControllerOptions), logger });
    return { broker, presenceManager, controller, closeController: () => controller.close(), description };
  }
  return { broker, presenceManager, controller: brokerController(broker), closeController: async () => {}, description };
}
