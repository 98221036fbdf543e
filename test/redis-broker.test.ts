/**
 * The broker and presence contracts against real Redis: the standalone server on 6379 (streams and
 * lists), two client-side shards, a 3-master cluster and a sentinel setup started here on spare
 * ports, plus Redis-specific behaviour (key layout, expiry, batching) and a restart during traffic.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { BrokerError, createBroker, createPresenceManager } from '../src/brokers/index.js';
import { shardIndex } from '../src/brokers/redis/index.js';
import { ConnectionWriter } from '../src/core/writer.js';
import { MemoryTransport } from '../src/core/memory-transport.test-helper.js';
import type { RedisBrokerOptions, RedisPresenceOptions } from '../src/brokers/index.js';
import { runBrokerContract } from './contracts/broker-contract.js';
import { runPresenceContract } from './contracts/presence-contract.js';
import { Recorder, bytes, sleep, text, uniqueChannel } from './contracts/contract-helpers.js';
import { redisCli, sparePort, startCluster, startRedis, startSentinel, startStandalones } from './helpers/redis-servers.js';

const prefix = `gyre_test_${randomBytes(4).toString('hex')}`;
const LOCAL: RedisBrokerOptions = { prefix, address: ['127.0.0.1:6379'] };
const HISTORY = { historySize: 10, historyTtlMs: 60_000 };

/** Registers both contracts and the controller case for one Redis topology whose options are known only after `before`. */
function contracts(name: string, options: () => RedisBrokerOptions & RedisPresenceOptions, presence = true): void {
  runBrokerContract(name, async () => ({ broker: createBroker('redis', options()) }), { sharedBackend: true });
  if (presence) runPresenceContract(name, async () => ({ presence: createPresenceManager('redis', options()) }));
  it(`${name}: control messages reach every node, or only the addressed one`, async () => {
    const nodes = [createBroker('redis', options()), createBroker('redis', options())];
    const got: string[][] = [[], []];
    try {
      for (const [i, b] of nodes.entries()) {
        await b.run(new Recorder());
        await b.runControl(`${prefix}-node${i}`, (msg) => got[i]!.push(text(msg)!));
      }
      await nodes[0]!.publishControl(bytes('to all'));
      await nodes[0]!.publishControl(bytes('to 1'), `${prefix}-node1`);
      for (let i = 0; i < 100 && got[0]!.length + got[1]!.length < 3; i++) await sleep(20);
      await sleep(50);
      assert.deepEqual(got, [['to all'], ['to all', 'to 1']]);
    } finally {
      for (const b of nodes) await b.close();
    }
  });
}

contracts('redis', () => LOCAL);
contracts('redis lists', () => ({ ...LOCAL, history_use_lists: true }), false);
runPresenceContract('redis user mapping', async () => ({ presence: createPresenceManager('redis', { ...LOCAL, presence_user_mapping: true }) }));

describe('redis specifics', () => {
  const direct = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  after(() => direct.disconnect());

  it('keeps the Centrifugo key layout: stream with {offset}-0 ids, meta hash, expiries', async () => {
    const b = createBroker('redis', LOCAL);
    await b.run(new Recorder());
    const ch = uniqueChannel('layout');
    const { position } = await b.publish(ch, bytes('x'), { historySize: 5, historyTtlMs: 10_000, historyMetaTtlMs: 100_000 });
    const meta = await direct.hgetall(`${prefix}.stream.meta.${ch}`);
    assert.deepEqual([meta['e'], meta['s']], [position.epoch, '1']);
    const entries = await direct.xrange(`${prefix}.stream.${ch}`, '-', '+');
    assert.deepEqual(entries.map(([id]) => id), ['1-0']);
    const dataTtl = await direct.pttl(`${prefix}.stream.${ch}`);
    const metaTtl = await direct.pttl(`${prefix}.stream.meta.${ch}`);
    assert.ok(dataTtl > 9000 && dataTtl <= 10_000, `data ttl ${dataTtl}`);
    assert.ok(metaTtl > 99_000 && metaTtl <= 100_000, `meta ttl ${metaTtl}`);
    await b.publish(ch, bytes('y'), { ...HISTORY, idempotencyKey: 'k1' });
    assert.ok((await direct.pttl(`${prefix}.result.${ch}.k1`)) > 290_000, 'idempotency result lives 5 minutes');
    await b.close();
    await assert.rejects(b.publish(ch, bytes('z'), {}), (e: unknown) => e instanceof BrokerError && e.code === 'broker_closed');
  });

  it('selects the db from the URL', async () => {
    const b = createBroker('redis', { prefix, address: ['redis://127.0.0.1:6379/2'] });
    await b.run(new Recorder());
    const ch = uniqueChannel('db');
    await b.publish(ch, bytes('x'), HISTORY);
    const db2 = new Redis({ host: '127.0.0.1', port: 6379, db: 2 });
    assert.equal(await db2.exists(`${prefix}.stream.meta.${ch}`), 1);
    assert.equal(await direct.exists(`${prefix}.stream.meta.${ch}`), 0);
    await db2.del(`${prefix}.stream.meta.${ch}`, `${prefix}.stream.${ch}`);
    db2.disconnect();
    await b.close();
  });

  it('expires presence entries not refreshed within presence_ttl; a refresh keeps them', async () => {
    for (const mapping of [false, true]) {
      const pm = createPresenceManager('redis', { ...LOCAL, presence_ttl: 300, presence_user_mapping: mapping });
      const ch = uniqueChannel('p_ttl');
      await pm.addPresence(ch, 'c1', { user: 'u1', client: 'c1' });
      await pm.addPresence(ch, 'c2', { user: 'u2', client: 'c2' });
      await sleep(200);
      await pm.addPresence(ch, 'c2', { user: 'u2', client: 'c2' });
      await sleep(200);
      assert.deepEqual(Object.keys(await pm.presence(ch)), ['c2'], `mapping ${mapping}`);
      assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 });
      await pm.close();
    }
  });

  it('with user mapping, a refresh that changes the user moves the count', async () => {
    const pm = createPresenceManager('redis', { ...LOCAL, presence_user_mapping: true });
    const ch = uniqueChannel('p_move');
    await pm.addPresence(ch, 'c1', { user: 'a', client: 'c1' });
    await pm.addPresence(ch, 'c2', { user: 'a', client: 'c2' });
    await pm.addPresence(ch, 'c1', { user: 'b', client: 'c1' });
    assert.deepEqual(await pm.presenceStats(ch), { numClients: 2, numUsers: 2 });
    await pm.removePresence(ch, 'c2', 'a');
    assert.deepEqual(await pm.presenceStats(ch), { numClients: 1, numUsers: 1 });
    await pm.close();
  });

  it('subscribes many channels made in one turn in batches, and unsubscribes them', async () => {
    const b = createBroker('redis', LOCAL);
    const rec = new Recorder();
    await b.run(rec);
    const channels = Array.from({ length: 1100 }, (_, i) => uniqueChannel(`batch${i}`));
    await Promise.all(channels.map((c) => b.subscribe(c)));
    const numsub = (await direct.call('pubsub', 'numsub', ...channels.map((c) => `${prefix}.client.${c}`))) as (string | number)[];
    assert.ok(numsub.filter((_, i) => i % 2 === 1).every((n) => Number(n) === 1), 'every channel is subscribed once');
    for (const c of [channels[0]!, channels[600]!, channels[1099]!]) await b.publish(c, bytes(c), {});
    await rec.waitFor(() => rec.events.length >= 3, 2000, 'three deliveries');
    await Promise.all(channels.map((c) => b.unsubscribe(c)));
    await sleep(50);
    const after = (await direct.call('pubsub', 'numsub', `${prefix}.client.${channels[0]}`)) as (string | number)[];
    assert.equal(Number(after[1]), 0);
    await b.close();
  });
});

describe('redis publish and local writes', () => {
  const turn = () => new Promise((r) => setImmediate(r));

  it('a publish this node receives back holds due writes until its reply; other publishes do not', async () => {
    const b = createBroker('redis', LOCAL);
    const rec = new Recorder();
    await b.run(rec);
    const sink = new MemoryTransport();
    const w = new ConnectionWriter(sink, 0, () => assert.fail('no overflow expected'));
    try {
      const mine = uniqueChannel('held');
      await b.subscribe(mine);
      w.enqueue(bytes('before'));
      const published = b.publish(mine, bytes('p1'), {});
      await turn();
      assert.deepEqual(sink.writes, [], 'the write waits for the publish');
      await published;
      await rec.waitFor(() => rec.pubs(mine).length === 1, 2000, 'the publication back');
      for (let i = 0; i < 100 && sink.writes.length === 0; i++) await sleep(10);
      assert.deepEqual(sink.writes, [['before']]);
      w.enqueue(bytes('again'));
      const other = b.publish(uniqueChannel('elsewhere'), bytes('p2'), {});
      await turn();
      assert.deepEqual(sink.writes, [['before'], ['again']], 'no hold for a channel this node does not receive');
      await other;
    } finally {
      w.close(true);
      await b.close();
    }
  });
});

describe('redis with two client-side shards', () => {
  let shards: { ports: number[]; stop: () => Promise<void> } | undefined;
  before(async () => {
    shards = await startStandalones(2);
  });
  after(async () => shards?.stop());
  const opts = (): RedisBrokerOptions => ({ prefix, address: shards!.ports.map((p) => `127.0.0.1:${p}`) });
  contracts('redis 2 shards', opts);

  it('puts each channel on the shard its hash picks, and both shards get channels', async () => {
    const b = createBroker('redis', opts());
    const [a, z] = shards!.ports.map((p) => new Redis({ host: '127.0.0.1', port: p, lazyConnect: true }));
    try {
      await b.run(new Recorder());
      const channels = Array.from({ length: 20 }, (_, i) => uniqueChannel(`spread${i}`));
      for (const c of channels) await b.publish(c, bytes('x'), HISTORY);
      const onA = channels.filter((c) => shardIndex(c, 2) === 0);
      assert.equal(await a!.exists(...onA.map((c) => `${prefix}.stream.meta.${c}`)), onA.length);
      assert.equal(await z!.exists(...channels.filter((c) => !onA.includes(c)).map((c) => `${prefix}.stream.meta.${c}`)), 20 - onA.length);
      assert.ok(onA.length > 0 && onA.length < 20, `both shards used: ${onA.length}/20`);
    } finally {
      a!.disconnect();
      z!.disconnect();
      await b.close();
    }
  });
});

describe('redis cluster (3 masters)', () => {
  let cluster: { ports: number[]; stop: () => Promise<void> } | undefined;
  before(async () => {
    cluster = await startCluster();
  });
  after(async () => cluster?.stop());
  contracts('redis cluster', () => ({ prefix, cluster_address: [cluster!.ports.map((p) => `127.0.0.1:${p}`).join(',')] }));

  it('hash-tags every key of a channel into one slot', async () => {
    const b = createBroker('redis', { prefix, cluster_address: [`127.0.0.1:${cluster!.ports[0]}`] });
    await b.run(new Recorder());
    const ch = uniqueChannel('slot');
    await b.publish(ch, bytes('x'), { ...HISTORY, idempotencyKey: 'k' });
    const slot = await redisCli(cluster!.ports[0]!, 'cluster', 'keyslot', ch);
    for (const key of [`${prefix}.stream.{${ch}}`, `${prefix}.stream.meta.{${ch}}`, `${prefix}.result.{${ch}}.k`]) {
      assert.equal(await redisCli(cluster!.ports[0]!, 'cluster', 'keyslot', key), slot);
    }
    await b.close();
  });
});

describe('redis sentinel (1 master, 1 sentinel)', () => {
  let setup: { masterPort: number; sentinelPort: number; stop: () => Promise<void> } | undefined;
  before(async () => {
    setup = await startSentinel('gyremaster');
  });
  after(async () => setup?.stop());
  contracts('redis sentinel', () => ({ prefix, sentinel_address: [`127.0.0.1:${setup!.sentinelPort}`], sentinel_master_name: 'gyremaster' }));
});

describe('redis restart during traffic', () => {
  it('starting while Redis is down: run and calls reject, then everything works once it is up', { timeout: 20_000 }, async () => {
    const port = await sparePort();
    const opts: RedisBrokerOptions = { prefix, address: [`127.0.0.1:${port}`], connect_timeout: 300 };
    const broker = createBroker('redis', opts);
    const presence = createPresenceManager('redis', opts);
    const rec = new Recorder();
    const backend = (e: unknown) => e instanceof BrokerError && e.code === 'backend_error';
    let server: Awaited<ReturnType<typeof startRedis>> | undefined;
    try {
      await assert.rejects(broker.run(rec), backend);
      await assert.rejects(broker.publish('ch', bytes('x'), {}), backend);
      await assert.rejects(presence.presenceStats('ch'), backend);
      server = await startRedis(port);
      const ch = uniqueChannel('late_start');
      for (let i = 0; ; i++) {
        try {
          await broker.subscribe(ch);
          break;
        } catch (err) {
          if (i > 100) throw err;
          await sleep(50);
        }
      }
      assert.equal((await broker.publish(ch, bytes('x'), HISTORY)).position.offset, 1);
      await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'a delivery');
      await presence.addPresence(ch, 'c', { user: 'u', client: 'c' });
      assert.deepEqual(await presence.presenceStats(ch), { numClients: 1, numUsers: 1 });
    } finally {
      await broker.close();
      await presence.close();
      await server?.stop();
    }
  });

  it('rejects publishes while down, then resubscribes and delivers again by itself', { timeout: 30_000 }, async () => {
    const port = await sparePort();
    let server = await startRedis(port);
    const opts: RedisBrokerOptions = { prefix, address: [`127.0.0.1:${port}`], connect_timeout: 500, io_timeout: 1000 };
    const broker = createBroker('redis', opts);
    const presence = createPresenceManager('redis', opts);
    const rec = new Recorder();
    const ch = uniqueChannel('restart');
    type Outcome = { n: number; phase: 'up' | 'killing' | 'down' | 'restarting' | 'back'; ok: boolean; error?: unknown };
    const outcomes: Outcome[] = [];
    let phase: Outcome['phase'] = 'up';
    let running = true;
    try {
      await broker.run(rec);
      await broker.subscribe(ch);
      const loop = (async () => {
        for (let n = 0; running; n++) {
          const at = phase;
          try {
            await broker.publish(ch, bytes(String(n)), n % 2 ? HISTORY : {});
            outcomes.push({ n, phase: at === phase ? at : 'restarting', ok: true });
          } catch (error) {
            outcomes.push({ n, phase: at === phase ? at : 'restarting', ok: false, error });
          }
          await sleep(10);
        }
      })();
      await sleep(300);
      // Redis killed with SIGKILL may not have written out a message whose PUBLISH it just
      // acknowledged: publishes of the last moment before the kill are not held to delivery.
      phase = 'killing';
      await sleep(50);
      await server.kill(true);
      phase = 'down';
      await sleep(700);
      await assert.rejects(broker.subscribe(uniqueChannel('while_down')), (e: unknown) => e instanceof BrokerError && e.code === 'backend_error');
      await assert.rejects(presence.presenceStats(ch), (e: unknown) => e instanceof BrokerError && e.code === 'backend_error');
      phase = 'restarting';
      server = await startRedis(port, [], server.dir);
      phase = 'back';
      // Deliveries resume without another subscribe call: wait for one published after the restart.
      await rec.waitFor(() => {
        const firstBack = outcomes.find((o) => o.phase === 'back' && o.ok);
        return firstBack !== undefined && rec.pubs(ch).some((e) => Number(text(e.pub.data)) > firstBack.n + 5);
      }, 10_000, 'a delivery after the restart');
      running = false;
      await loop;

      const down = outcomes.filter((o) => o.phase === 'down');
      assert.ok(down.length > 5, `publishes were attempted while down (${down.length})`);
      assert.ok(down.every((o) => !o.ok), 'no publish succeeded while Redis was down');
      assert.ok(down.every((o) => o.error instanceof BrokerError && o.error.code === 'backend_error'), 'outage errors carry backend_error');
      const delivered = new Set(rec.pubs(ch).map((e) => Number(text(e.pub.data))));
      const upOk = outcomes.filter((o) => o.phase === 'up' && o.ok);
      assert.ok(upOk.length > 5 && upOk.every((o) => delivered.has(o.n)), 'everything published before the outage was delivered');
      assert.ok(outcomes.filter((o) => o.phase === 'back').some((o) => o.ok), 'publishes succeed after the restart');
      const h = await broker.history(ch, { filter: { limit: -1 } });
      assert.ok(h.publications.length > 0, 'history restarted in a fresh stream');
      // The idle presence client reconnects on its own backoff (at most 1 s apart).
      let stats: Awaited<ReturnType<typeof presence.presenceStats>> | undefined;
      for (let i = 0; i < 60 && !stats; i++) stats = await presence.presenceStats(ch).catch(() => sleep(50).then(() => undefined));
      assert.deepEqual(stats, { numClients: 0, numUsers: 0 });
    } finally {
      running = false;
      await broker.close();
      await presence.close();
      await server.stop();
    }
  });
});
