/**
 * Builds the map broker from the `map_broker` section (memory unless set). The node runs it at
 * start and closes it at shutdown.
 */
import { createMapBroker, type PostgresMapBrokerOptions, type RedisMapBrokerOptions } from '../brokers/index.js';
import type { Logger, MapBroker } from '../core/index.js';

export interface MapBrokerSection {
  type?: string;
  /** The `map_broker.redis` block as config holds it (durations in ms). */
  redis?: object;
  /** The `map_broker.postgres` block as config holds it (durations in ms). */
  postgres?: object;
}

/**
 * The configured map broker (not yet running: the node calls `run`). A type Gyre does not
 * implement gives none, so the map API answers 108; config loading has already warned about it.
 */
export function buildMapBroker(s: MapBrokerSection, logger: Logger): MapBroker | undefined {
  const type = s.type || 'memory';
  if (type === 'memory') return createMapBroker('memory');
  if (type === 'redis') return createMapBroker('redis', { ...(s.redis as RedisMapBrokerOptions), logger });
  if (type === 'postgres') return createMapBroker('postgres', { ...(s.postgres as PostgresMapBrokerOptions), logger });
  return undefined;
}
