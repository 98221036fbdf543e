import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../brokers/memory/index.js';
import { jsonCodec } from '../protocol/codec.js';
import type { Disconnect } from '../protocol/codes.js';
import { Node } from './node.js';
import type { Controller } from './ports.js';
import type { Transport } from './transport.js';

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

class CaptureTransport implements Transport {
  readonly name = 'test';
  readonly protocol = 'json' as const;
  readonly unidirectional = false;
  readonly emulation = false;
  readonly appLevelPing = true;
  readonly disconnectPush = false;
  frames: string[] = [];
  closed: Disconnect | undefined;
  writeItems(items: Uint8Array[]): void {
    for (const i of items) this.frames.push(Buffer.from(i).toString());
  }
  bufferedBytes(): number {
    return 0;
  }
  close(d: Disconnect): void {
    this.closed = d;
  }
}

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

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
  const t = new CaptureTransport();
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
