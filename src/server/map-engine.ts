/**
 * Builds the map broker from the `map_broker` section. Not wired yet: the server calls it once map
 * subscriptions are served, next to buildEngine, and closes the result in reverse start order.
 */
import { createMapBroker, type RedisMapBrokerOptions } from '../brokers/index.js';
import type { Logger, MapBroker } from '../core/index.js';

export interface MapBrokerSection {
  type?: string;
  /** The `map_broker.redis` block as config holds it (durations in ms). */
  redis?: object;
}

/** The configured map broker (not yet running: the node calls `run`); throws naming the key for an unimplemented type. */
export function buildMapBroker(s: MapBrokerSection, logger: Logger): MapBroker {
  const type = s.type || 'memory';
  if (type === 'memory') return createMapBroker('memory');
  if (type === 'redis') return createMapBroker('redis', { ...(s.redis as RedisMapBrokerOptions), logger });
  throw new Error(`map_broker.type: "${type}" is not supported yet`);
}
