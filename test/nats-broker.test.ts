/**
 * The broker contract against the real NATS server on 4222 (pub/sub only: no history), plus the
 * NATS specifics: subject scheme, no history, wildcards, raw mode, and a server restart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { connect } from 'nats';
import { BrokerError, createBroker } from '../src/brokers/index.js';
import type { NatsBrokerOptions } from '../src/brokers/index.js';
import { runBrokerContract } from './contracts/broker-contract.js';
import { Recorder, bytes, sleep, text, uniqueChannel } from './contracts/contract-helpers.js';
import { sparePort } from './helpers/redis-servers.js';

const prefix = `gyre_test_${randomBytes(4).toString('hex')}`;
// Debian installs the server in /usr/sbin, which is not on every user's PATH.
const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
const LOCAL: NatsBrokerOptions = { prefix, url: 'nats://127.0.0.1:4222' };

runBrokerContract('nats', async () => ({ broker: createBroker('nats', LOCAL) }), { history: false, sharedBackend: true });

async function running(opts: NatsBrokerOptions = LOCAL): Promise<{ broker: ReturnType<typeof createBroker>; rec: Recorder }> {
  const broker = createBroker('nats', opts);
  const rec = new Recorder();
  await broker.run(rec);
  return { broker, rec };
}

describe('nats specifics', () => {
  it('publishes on <prefix>.client.<channel>; history options only fan out', async () => {
    const { broker } = await running();
    const nc = await connect({ servers: '127.0.0.1:4222' });
    try {
      const ch = uniqueChannel('subject');
      const got: string[] = [];
      nc.subscribe(`${prefix}.client.${ch}`, { callback: (_e, m) => void got.push(m.subject) });
      await nc.flush();
      const res = await broker.publish(ch, bytes('x'), { historySize: 10, historyTtlMs: 60_000 });
      assert.deepEqual(res, { position: { offset: 0, epoch: '' }, suppressed: false });
      await broker.publishJoin(ch, { user: 'u', client: 'c' });
      for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20);
      assert.deepEqual(got, [`${prefix}.client.${ch}`, `${prefix}.client.${ch}`]);
    } finally {
      await nc.close();
      await broker.close();
    }
  });

  it('control messages reach every node, or only the addressed one', async () => {
    const nodes = [createBroker('nats', LOCAL), createBroker('nats', LOCAL)];
    const got: string[][] = [[], []];
    try {
      for (const [i, b] of nodes.entries()) {
        await b.run(new Recorder());
        await b.runControl(`node${i}`, (msg) => got[i]!.push(text(msg)!));
      }
      await nodes[0]!.publishControl(bytes('to all'));
      await nodes[0]!.publishControl(bytes('to 1'), 'node1');
      for (let i = 0; i < 100 && got[0]!.length + got[1]!.length < 3; i++) await sleep(20);
      await sleep(50);
      assert.deepEqual(got, [['to all'], ['to all', 'to 1']]);
    } finally {
      for (const b of nodes) await b.close();
    }
  });

  it('keeps no history: history and removeHistory reject with not_available', async () => {
    const { broker } = await running();
    const notAvailable = (e: unknown) => e instanceof BrokerError && e.code === 'not_available';
    await assert.rejects(broker.history('ch', { filter: { limit: 0 } }), notAvailable);
    await assert.rejects(broker.removeHistory('ch'), notAvailable);
    await broker.close();
    await assert.rejects(broker.publish('ch', bytes('x'), {}), (e: unknown) => e instanceof BrokerError && e.code === 'broker_closed');
  });

  it('refuses wildcard channels unless allowed; an allowed wildcard receives concrete channels', async () => {
    const { broker } = await running();
    const badChannel = (e: unknown) => e instanceof BrokerError && e.code === 'bad_channel';
    await assert.rejects(broker.subscribe('news.*'), badChannel);
    await assert.rejects(broker.publish('news.>', bytes('x'), {}), badChannel);
    await broker.close();
    const { broker: wild, rec } = await running({ ...LOCAL, allow_wildcards: true });
    try {
      const base = uniqueChannel('wild');
      await wild.subscribe(`${base}.*`);
      await wild.publish(`${base}.a`, bytes('A'), {});
      await rec.waitFor(() => rec.pubs(`${base}.a`).length === 1, 2000, 'a wildcard delivery');
      assert.equal(text(rec.pubs(`${base}.a`)[0]?.pub.data), 'A');
    } finally {
      await wild.close();
    }
  });

  it('raw mode: payload is the data alone on raw prefix + replaced channel; no join/leave', async () => {
    const rawPrefix = `${prefix}_raw.`;
    const { broker, rec } = await running({ ...LOCAL, raw_mode: { enabled: true, prefix: rawPrefix, channel_replacements: { ':': '.' } } });
    const nc = await connect({ servers: '127.0.0.1:4222' });
    try {
      const ch = `${uniqueChannel('raw')}:x`;
      const subject = rawPrefix + ch.replace(':', '.');
      const seen: string[] = [];
      nc.subscribe(subject, { callback: (_e, m) => void seen.push(text(m.data)!) });
      await nc.flush();
      await broker.subscribe(ch);
      await broker.publish(ch, bytes('{"raw":true}'), { tags: { dropped: 'yes' } });
      await broker.publishJoin(ch, { user: 'u', client: 'c' });
      nc.publish(subject, bytes('from outside'));
      await rec.waitFor(() => rec.pubs(ch).length === 2, 2000, 'two raw deliveries');
      for (let i = 0; i < 100 && seen.length < 2; i++) await sleep(20);
      // Two different connections publish: NATS orders each publisher's messages, not the two together.
      assert.deepEqual(rec.pubs(ch).map((e) => text(e.pub.data)).sort(), ['from outside', '{"raw":true}']);
      assert.deepEqual([...seen].sort(), ['from outside', '{"raw":true}']);
      assert.equal(rec.on(ch).filter((e) => e.kind !== 'pub').length, 0);
    } finally {
      await nc.close();
      await broker.close();
    }
  });

  it('resubscribes by itself after a NATS server restart', { timeout: 20_000 }, async () => {
    const port = await sparePort();
    const start = () => {
      const proc = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      return { proc, exited: new Promise<void>((r) => proc.once('exit', () => r())) };
    };
    let server = start();
    const waitUp = async () => {
      for (let i = 0; i < 100; i++) {
        try {
          const nc = await connect({ servers: `127.0.0.1:${port}`, timeout: 200 });
          await nc.close();
          return;
        } catch {
          await sleep(50);
        }
      }
      throw new Error('nats-server did not start');
    };
    await waitUp();
    const { broker, rec } = await running({ ...LOCAL, url: `nats://127.0.0.1:${port}` });
    try {
      const ch = uniqueChannel('nats_restart');
      await broker.subscribe(ch);
      await broker.publish(ch, bytes('before'), {});
      await rec.waitFor(() => rec.pubs(ch).length === 1, 2000, 'the first delivery');
      server.proc.kill('SIGKILL');
      await server.exited;
      // While the server is down a publish is an error, never a silent success.
      let rejected = false;
      for (let i = 0; i < 50 && !rejected; i++) {
        rejected = await broker.publish(ch, bytes('during'), {}).then(
          () => false,
          () => true,
        );
        if (!rejected) await sleep(20);
      }
      assert.ok(rejected, 'publish rejects while NATS is down');
      server = start();
      await waitUp();
      // Publish until one arrives: the client reconnects and resubscribes on its own.
      for (let i = 0; i < 100 && !rec.pubs(ch).some((e) => text(e.pub.data) === 'after'); i++) {
        await broker.publish(ch, bytes('after'), {}).catch(() => undefined);
        await sleep(100);
      }
      assert.ok(rec.pubs(ch).some((e) => text(e.pub.data) === 'after'), 'deliveries resumed');
    } finally {
      await broker.close();
      server.proc.kill('SIGKILL');
      await server.exited;
    }
  });
});
