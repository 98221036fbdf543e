import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../brokers/memory/index.js';
import { jsonCodec } from '../protocol/codec.js';
import { Node } from './node.js';
import type { Controller } from './ports.js';
import { MemoryTransport, until } from './memory-transport.test-helper.js';

/** An in-process control bus: every registered node receives broadcasts and its own addressed messages. */
class Bus {
  private readonly handlers = new Map<string, (m: Uint8Array) => void>();
  controller(): Controller {
    return {
      runControl: async (id, h) => {
        this.handlers.set(id, h);
      },
      publishControl: async (msg, to) => {
        for (const [id, h] of this.handlers) if (!to || to === id) queueMicrotask(() => h(msg));
      },
    };
  }
}

const bus = new Bus();
const mk = () =>
  new Node(
    { client: { insecure: true } },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager(), controller: bus.controller() },
  );
const a = mk();
const b = mk();
after(async () => {
  await a.shutdown();
  await b.shutdown();
});

test('nodes see each other, and user commands from one node reach connections on another', async () => {
  await a.start();
  await b.start();
  const t = new MemoryTransport();
  const c = b.createClient(t, { headers: {} });
  c.handleFrame(jsonCodec.encodeCommand({ id: 1, connect: {} }));
  c.handleFrame(jsonCodec.encodeCommand({ id: 2, subscribe: { channel: 'room' } }));
  await until(() => t.frames.length >= 2);
  // Node info arrives with heartbeats; wait until the first node knows the second.
  const infoDeadline = Date.now() + 5000;
  let nodes = (await a.info()).nodes;
  while (nodes.length < 2 && Date.now() < infoDeadline) {
    await new Promise((r) => setTimeout(r, 50));
    nodes = (await a.info()).nodes;
  }
  assert.equal(nodes.length, 2);
  const remote = nodes.find((n) => n.uid === b.id);
  assert.ok(remote);

  const channels = await a.channels();
  assert.deepEqual(channels.room, { num_clients: 1 });

  await a.disconnect({ user: '', code: 4000, reason: 'custom' });
  await until(() => t.closed !== undefined);
  assert.equal(t.closed?.code, 4000);
  assert.equal(t.closed?.reason, 'custom');
});
