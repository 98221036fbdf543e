/**
 * The MapBroker contract against the memory broker and Redis: the standalone server on 6379, two
 * client-side shards and a 3-master cluster started on spare ports; plus Redis key layout checks.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createMapBroker } from '../src/brokers/index.js';
import type { RedisMapBrokerOptions } from '../src/brokers/index.js';
import { MemoryMapBroker } from '../src/brokers/memory/index.js';
import { RedisMapBroker, shardIndex } from '../src/brokers/redis/index.js';
import { MapRecorder, RECOVERABLE, runMapBrokerContract } from './contracts/map-broker-contract.js';
import { bytes, sleep, uniqueChannel } from './contracts/contract-helpers.js';
import { redisCli, sparePort, startCluster, startRedis, startStandalones } from './helpers/redis-servers.js';

const prefix = `gyre_maptest_${randomBytes(4).toString('hex')}`;

runMapBrokerContract('memory', async () => {
  const broker = createMapBroker('memory') as MemoryMapBroker;
  return { broker, expireNow: async () => broker.sweep() };
});

function redisContract(name: string, options: () => RedisMapBrokerOptions): void {
  runMapBrokerContract(name, async () => {
    const broker = createMapBroker('redis', options()) as RedisMapBroker;
    return { broker, expireNow: () => broker.cleanup() };
  });
}

redisContract('redis', () => ({ prefix, address: ['127.0.0.1:6379'] }));

describe('redis map broker specifics', () => {
  const direct = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  after(() => direct.disconnect());

  it('keeps meta, stream, state and key order per channel, with meta_ttl expiry; registers TTL keys for cleanup', async () => {
    const b = createMapBroker('redis', { prefix, address: ['127.0.0.1:6379'] });
    try {
      await b.run(new MapRecorder());
      const ch = uniqueChannel('layout');
      const w = await b.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('x') });
      const meta = await direct.hgetall(`${prefix}.map.meta.${ch}`);
      assert.deepEqual([meta['e'], meta['s']], [w.position.epoch, '1']);
      assert.deepEqual((await direct.xrange(`${prefix}.map.stream.${ch}`, '-', '+')).map(([id]) => id), ['1-0']);
      assert.deepEqual(await direct.zrange(`${prefix}.map.keys.${ch}`, 0, -1), ['k']);
      const metaTtl = await direct.pttl(`${prefix}.map.meta.${ch}`);
      assert.ok(metaTtl > 590_000 && metaTtl <= 600_000, `meta ttl ${metaTtl}`);
      assert.ok((await direct.zscore(`${prefix}.map.cleanup`, ch)) !== null, 'the channel is registered for key expiry');
      await b.clear(ch);
      assert.equal(await direct.exists(`${prefix}.map.meta.${ch}`, `${prefix}.map.state.${ch}`, `${prefix}.map.stream.${ch}`), 0);
      assert.equal(await direct.zscore(`${prefix}.map.cleanup`, ch), null);
    } finally {
      await b.close();
    }
  });

  it('skip_pub_sub stores without publishing', async () => {
    const b = createMapBroker('redis', { prefix, address: ['127.0.0.1:6379'], skip_pub_sub: true });
    try {
      const rec = new MapRecorder();
      await b.run(rec);
      const ch = uniqueChannel('skip');
      await b.subscribe(ch);
      await b.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('x') });
      await sleep(100);
      assert.equal(rec.on(ch).length, 0);
      assert.equal((await b.stats(ch)).numKeys, 1);
    } finally {
      await b.close();
    }
  });

  it('two nodes: one publishes, the other receives live changes', async () => {
    const a = createMapBroker('redis', { prefix, address: ['127.0.0.1:6379'] });
    const z = createMapBroker('redis', { prefix, address: ['127.0.0.1:6379'] });
    try {
      const rec = new MapRecorder();
      await a.run(new MapRecorder());
      await z.run(rec);
      const ch = uniqueChannel('nodes');
      await z.subscribe(ch);
      await a.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('x') });
      await a.remove(ch, 'k', { channel: RECOVERABLE });
      const got = await rec.waitFor(ch, 2);
      assert.deepEqual(got.map((e) => [e.pub.key, e.pub.offset, e.pub.removed ?? false]), [['k', 1, false], ['k', 2, true]]);
    } finally {
      await a.close();
      await z.close();
    }
  });
});

describe('redis map broker with two client-side shards', () => {
  let shards: { ports: number[]; stop: () => Promise<void> } | undefined;
  before(async () => {
    shards = await startStandalones(2);
  });
  after(async () => shards?.stop());
  const opts = (): RedisMapBrokerOptions => ({ prefix, address: shards!.ports.map((p) => `127.0.0.1:${p}`) });
  redisContract('redis 2 shards', opts);

  it('puts each channel on the shard its hash picks, and both shards get channels', async () => {
    const b = createMapBroker('redis', opts());
    const [a, z] = shards!.ports.map((p) => new Redis({ host: '127.0.0.1', port: p, lazyConnect: true }));
    try {
      await b.run(new MapRecorder());
      const channels = Array.from({ length: 20 }, (_, i) => uniqueChannel(`spread${i}`));
      for (const c of channels) await b.publish(c, 'k', { channel: RECOVERABLE, data: bytes('x') });
      const onA = channels.filter((c) => shardIndex(c, 2) === 0);
      assert.equal(await a!.exists(...onA.map((c) => `${prefix}.map.meta.${c}`)), onA.length);
      assert.equal(await z!.exists(...channels.filter((c) => !onA.includes(c)).map((c) => `${prefix}.map.meta.${c}`)), 20 - onA.length);
      assert.ok(onA.length > 0 && onA.length < 20, `both shards used: ${onA.length}/20`);
    } finally {
      a!.disconnect();
      z!.disconnect();
      await b.close();
    }
  });
});

describe('redis map broker on a cluster (3 masters)', () => {
  let cluster: { ports: number[]; stop: () => Promise<void> } | undefined;
  before(async () => {
    cluster = await startCluster();
  });
  after(async () => cluster?.stop());
  redisContract('redis cluster', () => ({ prefix, cluster_address: [cluster!.ports.map((p) => `127.0.0.1:${p}`).join(',')] }));

  it('hash-tags every key of a channel into one slot', async () => {
    const b = createMapBroker('redis', { prefix, cluster_address: [`127.0.0.1:${cluster!.ports[0]}`] });
    try {
      await b.run(new MapRecorder());
      const ch = uniqueChannel('slot');
      await b.publish(ch, 'k', { channel: RECOVERABLE, data: bytes('x'), idempotencyKey: 'i' });
      const slot = await redisCli(cluster!.ports[0]!, 'cluster', 'keyslot', ch);
      for (const kind of ['meta', 'stream', 'state', 'keys', 'expire', 'version', 'pub']) {
        assert.equal(await redisCli(cluster!.ports[0]!, 'cluster', 'keyslot', `${prefix}.map.${kind}.{${ch}}`), slot);
      }
      assert.equal(await redisCli(cluster!.ports[0]!, 'cluster', 'keyslot', `${prefix}.map.result.{${ch}}.i`), slot);
    } finally {
      await b.close();
    }
  });
});

describe('redis map broker data loss', () => {
  it('a Redis restart without persistence gives a new epoch: old positions and revisions are unrecoverable', { timeout: 30_000 }, async () => {
    const port = await sparePort();
    let server = await startRedis(port);
    const b = createMapBroker('redis', { prefix, address: [`127.0.0.1:${port}`], connect_timeout: 500, io_timeout: 1000 });
    try {
      await b.run(new MapRecorder());
      const ch = uniqueChannel('restart');
      await b.publish(ch, 'a', { channel: RECOVERABLE, data: bytes('1') });
      const before = (await b.publish(ch, 'b', { channel: RECOVERABLE, data: bytes('2') })).position;
      await server.kill(true);
      server = await startRedis(port, [], server.dir);
      let state;
      for (let i = 0; ; i++) {
        try {
          state = await b.readState(ch, { channel: RECOVERABLE, limit: -1, revision: before });
          break;
        } catch (err) {
          if (i > 100) throw err;
          await sleep(50);
        }
      }
      assert.equal(state.unrecoverable, true);
      assert.notEqual(state.position.epoch, before.epoch);
      const stream = await b.readStream(ch, { channel: RECOVERABLE, limit: -1, since: before });
      assert.equal(stream.unrecoverable, true);
    } finally {
      await b.close();
      await server.stop();
    }
  });

  it('writes lost by a failover to a lagging replica (same epoch, lower top) make later positions unrecoverable', async () => {
    const direct = new Redis({ host: '127.0.0.1', port: 6379 });
    const b = createMapBroker('redis', { prefix, address: ['127.0.0.1:6379'] });
    try {
      await b.run(new MapRecorder());
      const ch = uniqueChannel('lost_tail');
      for (let i = 1; i <= 4; i++) await b.publish(ch, `k${i}`, { channel: RECOVERABLE, data: bytes(`${i}`) });
      // What the promoted replica holds: the first two writes only.
      await direct.hset(`${prefix}.map.meta.${ch}`, 's', 2);
      await direct.xdel(`${prefix}.map.stream.${ch}`, '3-0', '4-0');
      const { epoch } = (await b.readStream(ch, { channel: RECOVERABLE, limit: 0 })).position;
      assert.equal((await b.readStream(ch, { channel: RECOVERABLE, limit: -1, since: { offset: 4, epoch } })).unrecoverable, true);
      assert.equal((await b.readStream(ch, { channel: RECOVERABLE, limit: -1, since: { offset: 2, epoch } })).unrecoverable, false);
    } finally {
      direct.disconnect();
      await b.close();
    }
  });
});
