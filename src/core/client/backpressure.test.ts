// Command backpressure: a client that sends faster than its commands complete is held back
// (its transport stops reading) or, where the transport cannot stop reading, disconnected
// once its queued commands pass the byte bound. Driven through an in-memory transport.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../../brokers/memory/index.js';
import type { HistoryOptions, HistoryResult } from '../ports.js';
import { jsonCodec } from '../../protocol/codec.js';
import type { Disconnect } from '../../protocol/codes.js';
import { MemoryTransport, until } from '../memory-transport.test-helper.js';
import { Node } from '../node.js';

/** A broker whose history calls wait until the test opens the gate. */
class GatedBroker extends MemoryBroker {
  private waiting: (() => void)[] = [];
  gated = true;
  override async history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    if (this.gated) await new Promise<void>((r) => this.waiting.push(r));
    return super.history(channel, opts);
  }
  open(): void {
    this.gated = false;
    for (const r of this.waiting.splice(0)) r();
  }
}

async function setup(pausable: boolean) {
  const broker = new GatedBroker();
  const node = new Node(
    { client: { insecure: true }, channel: { without_namespace: { history_size: 10, history_ttl: 60_000 } } },
    { broker, presenceManager: new MemoryPresenceManager() },
  );
  await node.start();
  const t = new MemoryTransport({ pausable });
  const c = node.createClient(t, { headers: {} });
  c.handleFrame(jsonCodec.encodeCommand({ id: 1, connect: {} }));
  await until(() => t.frames.length >= 1);
  return { broker, node, t, c };
}

test('a transport that can stop reading is paused while commands pile up, and resumed once they drain', async () => {
  const { broker, node, t, c } = await setup(true);
  for (let i = 0; i < 40; i++) c.handleFrame(jsonCodec.encodeCommand({ id: 10 + i, history: { channel: 'room' } }));
  assert.deepEqual(t.pauses, [true], 'paused once');
  assert.equal(t.closed, undefined, 'frames already read are still served');
  broker.open();
  await until(() => t.frames.length >= 41);
  assert.deepEqual(t.pauses, [true, false], 'resumed after the queue drained');
  assert.equal(t.closed, undefined);
  await node.shutdown();
});

test('a transport that cannot stop reading is disconnected with 3013 past the queued-bytes bound', async () => {
  const { node, t, c } = await setup(false);
  const frame = jsonCodec.encodeCommand({ id: 2, history: { channel: 'x'.repeat(200) } });
  // Well under the bound: still served.
  for (let i = 0; i < 100; i++) c.handleFrame(frame);
  assert.equal(t.closed, undefined);
  for (let i = 0; i < 1 + (1 << 20) / frame.length; i++) c.handleFrame(frame);
  assert.equal((t.closed as Disconnect | undefined)?.code, 3013);
  assert.equal(c.state, 'closed');
  await node.shutdown();
});
