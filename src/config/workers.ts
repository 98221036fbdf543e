/**
 * The Gyre key `workers`: how many worker processes serve the listening ports, and what a
 * configuration needs before more than one can run (a broker, node controller, presence
 * manager and map broker that every process shares).
 */
import type { ChannelOptionsConfig, GyreConfig } from './types.js';

/** Upper bound of `workers`: a typo must not fork thousands of processes. */
export const MAX_WORKERS = 1024;

/** Schema check of `workers`: "auto" or a whole number from 0 to MAX_WORKERS. */
export function workersCheck(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'auto') return undefined;
  if (!/^\d+$/.test(v)) return `invalid value "${value}": expected a number of processes or "auto"`;
  if (Number(v) > MAX_WORKERS) return `invalid value "${value}": at most ${MAX_WORKERS}`;
  return undefined;
}

/**
 * Worker processes that `workers` asks for: its number, or `cores` for "auto" and 0.
 * A value the schema check rejects counts as 1.
 */
export function workerCount(value: string, cores: number): number {
  const v = value.trim().toLowerCase();
  if (v === 'auto' || v === '0') return Math.max(1, cores);
  const n = /^\d+$/.test(v) ? Number(v) : 1;
  return Math.min(Math.max(1, n), MAX_WORKERS);
}

/**
 * Whether `workers` may start more than one process: a number above 1, or "auto"/0 on any
 * machine (so a configuration checks the same on a one-core laptop as on the server).
 */
export function mayRunSeveralWorkers(value: string): boolean {
  const v = value.trim().toLowerCase();
  return v === 'auto' || v === '0' || (/^\d+$/.test(v) && Number(v) > 1);
}

function allChannelOptions(config: GyreConfig): ChannelOptionsConfig[] {
  return [config.channel.without_namespace, ...config.channel.namespaces];
}

/**
 * What a multi-worker configuration lacks, as [config path, message] pairs (empty when
 * nothing is missing or when one process runs). Every worker is a node of its own: they meet
 * only through the broker (publications, history), the node controller (node info, server API
 * commands for clients on another worker), the presence manager and the map broker.
 */
export function workersProblems(config: GyreConfig): [string, string][] {
  if (!mayRunSeveralWorkers(config.workers)) return [];
  const problems: [string, string][] = [];
  const broker = config.broker.enabled ? config.broker.type : config.engine.type;
  if (broker === 'memory') {
    problems.push([
      'workers',
      `workers "${config.workers}" needs a broker that spans processes, but the memory engine keeps everything inside one process: ` +
        'set engine.type "redis" (with engine.redis.address), or broker.enabled true with broker.type "redis", "nats" or "postgres"',
    ]);
  } else if (broker === 'postgres' && !config.controller.enabled) {
    problems.push([
      'workers',
      `workers "${config.workers}" with broker.type "postgres" needs the node controller too (node info and server API commands between workers): ` +
        'set controller.enabled true, controller.type "postgres" and controller.postgres.dsn',
    ]);
  }
  const presence = config.presence_manager.enabled ? config.presence_manager.type : config.engine.type;
  if (presence === 'memory' && allChannelOptions(config).some((o) => o.presence)) {
    problems.push([
      'workers',
      `workers "${config.workers}" with channel presence needs a presence manager that spans processes: ` +
        'set engine.type "redis", or presence_manager.enabled true with presence_manager.type "redis"',
    ]);
  }
  const mapTypes = new Set(['map', 'map_clients', 'map_users']);
  if (config.map_broker.type === 'memory' && allChannelOptions(config).some((o) => mapTypes.has(o.subscription_type))) {
    problems.push([
      'workers',
      `workers "${config.workers}" with map subscriptions needs a map broker that spans processes: set map_broker.type "redis" or "postgres"`,
    ]);
  }
  return problems;
}
