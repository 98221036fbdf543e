import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, configProblems, mayRunSeveralWorkers, workerCount } from './index.js';
import { loadValues } from './testing.js';

/** Problems of loading `values` (with `env`), one message each; [] when it loads. */
function problems(values: unknown, env: Record<string, string> = {}): string[] {
  try {
    loadValues(values, { env });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return configProblems(err).map((e) => e.message);
  }
}

const REDIS = { engine: { type: 'redis' } };

describe('workers', () => {
  it('counts processes: a number, or one per core for auto and 0', () => {
    assert.equal(workerCount('1', 8), 1);
    assert.equal(workerCount('4', 8), 4);
    assert.equal(workerCount('auto', 8), 8);
    assert.equal(workerCount(' AUTO ', 3), 3);
    assert.equal(workerCount('0', 2), 2);
    assert.equal(workerCount('0', 0), 1);
    assert.equal(workerCount('junk', 8), 1);
    assert.equal(mayRunSeveralWorkers('1'), false);
    assert.equal(mayRunSeveralWorkers('2'), true);
    assert.equal(mayRunSeveralWorkers('auto'), true);
    assert.equal(mayRunSeveralWorkers('0'), true);
  });

  it('loads from file (number or "auto"), env and flag, defaulting to "1"', () => {
    assert.equal(loadValues({}).config.workers, '1');
    assert.equal(loadValues({ ...REDIS, workers: 3 }).config.workers, '3');
    assert.equal(loadValues({ ...REDIS, workers: 'auto' }).config.workers, 'auto');
    assert.equal(loadValues(REDIS, { env: { CENTRIFUGO_WORKERS: '4' } }).config.workers, '4');
    assert.equal(loadValues(REDIS, { flags: { workers: 'auto' } }).config.workers, 'auto');
    assert.deepEqual(loadValues({ ...REDIS, workers: 2 }).unknownKeys, []);
  });

  it('rejects values that are not a count or "auto"', () => {
    assert.match(problems({ ...REDIS, workers: 'two' }).join('\n'), /^workers: invalid value "two"/);
    assert.match(problems({ ...REDIS, workers: -1 }).join('\n'), /^workers: invalid value "-1"/);
    assert.match(problems({ ...REDIS, workers: 5000 }).join('\n'), /at most 1024/);
  });

  it('refuses several workers on the memory engine, naming the keys to set', () => {
    for (const values of [{ workers: 2 }, { workers: 'auto' }, { workers: 0 }, { workers: 2, broker: { enabled: true, type: 'memory' } }]) {
      const [message, ...rest] = problems(values);
      assert.deepEqual(rest, []);
      assert.match(message ?? '', /^workers ".+" needs a broker that spans processes/, JSON.stringify(values));
      assert.match(message ?? '', /engine\.type "redis"/);
      assert.match(message ?? '', /broker\.enabled true with broker\.type "redis", "nats" or "postgres"/);
    }
    assert.deepEqual(problems({ workers: 1 }), []);
    assert.deepEqual(problems({}, { CENTRIFUGO_WORKERS: '1' }), []);
    assert.equal(problems({}, { CENTRIFUGO_WORKERS: '2' }).length, 1);
  });

  it('accepts the Redis engine and the Redis, NATS and PostgreSQL brokers', () => {
    assert.deepEqual(problems({ ...REDIS, workers: 2, channel: { without_namespace: { presence: true } } }), []);
    assert.deepEqual(problems({ workers: 2, broker: { enabled: true, type: 'redis' } }), []);
    assert.deepEqual(problems({ workers: 2, broker: { enabled: true, type: 'nats' } }), []);
    const pg = { workers: 2, broker: { enabled: true, type: 'postgres', postgres: { dsn: 'postgres://x' } } };
    assert.deepEqual(problems({ ...pg, controller: { enabled: true, type: 'postgres', postgres: { dsn: 'postgres://x' } } }), []);
  });

  it('asks for the controller with the PostgreSQL broker, a shared presence manager and a shared map broker', () => {
    const pg = { workers: 2, broker: { enabled: true, type: 'postgres', postgres: { dsn: 'postgres://x' } } };
    assert.match(problems(pg).join('\n'), /controller\.enabled true, controller\.type "postgres"/);
    const nats = { workers: 2, broker: { enabled: true, type: 'nats' } };
    assert.match(problems({ ...nats, channel: { namespaces: [{ name: 'chat', presence: true }] } }).join('\n'), /presence_manager\.type "redis"/);
    assert.deepEqual(problems({ ...nats, presence_manager: { enabled: true, type: 'redis' }, channel: { without_namespace: { presence: true } } }), []);
    const map = { channel: { namespaces: [{ name: 'kv', subscription_type: 'map', map: { mode: 'persistent' } }] } };
    assert.match(problems({ ...REDIS, workers: 2, ...map }).join('\n'), /map_broker\.type "redis" or "postgres"/);
    assert.deepEqual(problems({ ...REDIS, workers: 2, ...map, map_broker: { type: 'redis' } }), []);
    // One process: none of this matters.
    assert.deepEqual(problems({ ...map, channel: { ...map.channel, without_namespace: { presence: true } } }), []);
  });
});
