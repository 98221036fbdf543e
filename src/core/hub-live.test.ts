// Live subscribers (hub.subscriptionLive): a publication reaches them in the turn's run, one
// array shared by all of them, handed out before anything else touches their writers. Each
// connection must receive exactly what one-by-one delivery gives it, in the same order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../brokers/memory/index.js';
import { codecFor } from '../protocol/codec.js';
import { Disconnects } from '../protocol/codes.js';
import type { Reply } from '../protocol/types.js';
import type { ClientSession } from './client/client.js';
import type { StreamSubscription } from './client/subscription.js';
import { Hub, type PushFraming } from './hub.js';
import { MemoryTransport, until, type MemoryTransportOptions } from './memory-transport.test-helper.js';
import { Node } from './node.js';
import type { BrokerPublication } from './ports.js';

/** A memory transport that also keeps the arrays it was handed. */
class ArrayKeepingTransport extends MemoryTransport {
  readonly arrays: (readonly Uint8Array[])[] = [];
  override writeItems(items: Uint8Array[]): void {
    this.arrays.push(items);
    super.writeItems(items);
  }
}

interface Sub {
  c: ClientSession;
  t: ArrayKeepingTransport;
  sub: StreamSubscription;
}

async function startNode(positioned = false): Promise<Node> {
  const node = new Node(
    { client: { insecure: true }, channel: { without_namespace: positioned ? { history_size: 10, history_ttl: 60_000, force_positioning: true } : {} } },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager() },
  );
  await node.start();
  return node;
}

/** A connected session subscribed to `room` (unpositioned unless the node forces it), its replies flushed. */
async function subscriber(node: Node, opts: MemoryTransportOptions = {}, channel = 'room'): Promise<Sub> {
  const t = new ArrayKeepingTransport(opts);
  const c = node.createClient(t, { headers: {} });
  await c.runCommand({ id: 1, connect: {} });
  await c.runCommand({ id: 2, subscribe: { channel } });
  await until(() => t.items.length >= 2);
  const sub = c.subs.get(channel) as StreamSubscription;
  assert.equal(sub.state, 'subscribed');
  return { c, t, sub };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const pub = (n: number): BrokerPublication => ({ data: new TextEncoder().encode(`{"n":${n}}`), offset: 0, time: 0 });
const encode = (framing: PushFraming, reply: Reply): Uint8Array | undefined => {
  const uni = framing.endsWith('-uni');
  const codec = codecFor(uni ? (framing.slice(0, -4) as 'json' | 'protobuf') : (framing as 'json' | 'protobuf'));
  return uni ? codec.encodePush(reply.push ?? {}) : codec.encodeReply(reply);
};
const pushOf = (channel: string, n: number): Reply => ({ push: { channel, pub: { data: new TextEncoder().encode(`{"n":${n}}`) } } });
const text = (items: readonly Uint8Array[]): string[] => items.map((i) => Buffer.from(i).toString());

test("one turn's publications reach every live subscriber as one shared array, counted like one-by-one deliveries", async () => {
  const node = await startNode();
  const subs = [await subscriber(node), await subscriber(node), await subscriber(node)];
  const p = await subscriber(node, { protocol: 'protobuf' });
  const cell = node.traffic.cell('sent', 'test', 'push_publication');
  const counted = cell.count;
  for (let n = 1; n <= 3; n++) node.hub.broadcastPublication('room', pub(n), { offset: 0, epoch: '' });
  assert.ok(subs.every((s) => s.t.writes.length === 1), 'nothing is written before the end of the turn');
  await turn();
  const json = subs.map((s) => s.t.arrays.at(-1)!);
  assert.deepEqual(text(json[0]!), [1, 2, 3].map((n) => Buffer.from(encode('json', pushOf('room', n))!).toString()));
  assert.ok(json.every((a) => a === json[0]), 'the same array for every JSON subscriber');
  assert.ok(Object.isFrozen(json[0]), 'a shared array is frozen');
  const proto = p.t.arrays.at(-1)!;
  assert.deepEqual(
    proto.map((i) => Buffer.from(i).toString('hex')),
    [1, 2, 3].map((n) => Buffer.from(encode('protobuf', pushOf('room', n))!).toString('hex')),
  );
  assert.equal(cell.count - counted, 12, 'four subscribers × three publications');
  await node.shutdown();
});

test('what a live subscriber receives equals what one-by-one delivery gives a subscriber of the same framing', async () => {
  const node = await startNode();
  const hub = new Hub<ClientSession>(encode);
  const live = await subscriber(node);
  const each = await subscriber(node);
  hub.addSub(live.c, live.sub);
  hub.subscriptionLive(live.c, live.sub);
  // A filter that passes everything keeps a subscriber off the live list.
  hub.addSub(each.c, each.sub, { filter: () => true });
  hub.subscriptionLive(each.c, each.sub);
  for (let n = 1; n <= 4; n++) hub.broadcastPublication('room', pub(n), { offset: 0, epoch: '' });
  await turn();
  assert.deepEqual(text(live.t.arrays.at(-1)!), text(each.t.arrays.at(-1)!));
  assert.equal(live.t.arrays.at(-1)!.length, 4);
  assert.ok(Object.isFrozen(live.t.arrays.at(-1)), 'the live one got the run');
  assert.ok(!Object.isFrozen(each.t.arrays.at(-1)), 'the filtered one got them one by one');
  await node.shutdown();
});

test('an item queued between two publications stays between them', async () => {
  const node = await startNode();
  const a = await subscriber(node);
  const b = await subscriber(node);
  node.hub.broadcastPublication('room', pub(1), { offset: 0, epoch: '' });
  a.c.enqueue(new TextEncoder().encode('{"between":1}'), 'push_message');
  node.hub.broadcastPublication('room', pub(2), { offset: 0, epoch: '' });
  await turn();
  assert.deepEqual(text(a.t.arrays.at(-1)!), [pushOf('room', 1), undefined, pushOf('room', 2)].map((r) => (r ? Buffer.from(encode('json', r)!).toString() : '{"between":1}')));
  assert.deepEqual(text(b.t.arrays.at(-1)!), [1, 2].map((n) => Buffer.from(encode('json', pushOf('room', n))!).toString()));
  await node.shutdown();
});

test('publications of other channels keep their order on a connection subscribed to both', async () => {
  const node = await startNode();
  const a = await subscriber(node);
  const roomOnly = await subscriber(node);
  const hallOnly = await subscriber(node, {}, 'hall');
  const t = a.t;
  await a.c.runCommand({ id: 3, subscribe: { channel: 'hall' } });
  await until(() => t.items.length >= 3);
  node.hub.broadcastPublication('room', pub(1), { offset: 0, epoch: '' });
  node.hub.broadcastPublication('hall', pub(2), { offset: 0, epoch: '' });
  node.hub.broadcastPublication('room', pub(3), { offset: 0, epoch: '' });
  await turn();
  const bytes = (rs: Reply[]): string[] => rs.map((r) => Buffer.from(encode('json', r)!).toString());
  assert.deepEqual(text(t.arrays.at(-1)!), bytes([pushOf('room', 1), pushOf('hall', 2), pushOf('room', 3)]));
  assert.deepEqual(text(roomOnly.t.arrays.at(-1)!), bytes([pushOf('room', 1), pushOf('room', 3)]));
  assert.deepEqual(text(hallOnly.t.arrays.at(-1)!), bytes([pushOf('hall', 2)]));
  await node.shutdown();
});

test('a subscriber going live mid-turn gets each publication once; one leaving mid-turn gets those before it left', async () => {
  const node = await startNode();
  const hub = new Hub<ClientSession>(encode);
  const a = await subscriber(node);
  const b = await subscriber(node);
  const c = await subscriber(node);
  hub.addSub(a.c, a.sub);
  hub.subscriptionLive(a.c, a.sub);
  hub.addSub(c.c, c.sub);
  hub.subscriptionLive(c.c, c.sub);
  hub.broadcastPublication('room', pub(1), { offset: 0, epoch: '' });
  hub.addSub(b.c, b.sub); // not live yet: gets publication 2 one by one
  hub.broadcastPublication('room', pub(2), { offset: 0, epoch: '' });
  hub.subscriptionLive(b.c, b.sub);
  hub.broadcastPublication('room', pub(3), { offset: 0, epoch: '' });
  assert.equal(hub.removeSub(c.c, 'room'), false);
  hub.broadcastPublication('room', pub(4), { offset: 0, epoch: '' });
  await turn();
  const ns = (s: Sub): number[] => text(s.t.arrays.at(-1)!).map((x) => (JSON.parse(x) as { push: { pub: { data: { n: number } } } }).push.pub.data.n);
  assert.deepEqual(ns(a), [1, 2, 3, 4]);
  assert.deepEqual(ns(b), [2, 3, 4]);
  assert.deepEqual(ns(c), [1, 2, 3]);
  await node.shutdown();
});

test('positioned subscribers stay one by one beside live ones and keep their position', async () => {
  const node = await startNode(true);
  const hub = new Hub<ClientSession>(encode);
  const pos = await subscriber(node);
  assert.equal(pos.sub.positioned, true);
  const unpositioned = await startNode();
  const live = await subscriber(unpositioned);
  for (const s of [pos, live]) {
    hub.addSub(s.c, s.sub);
    hub.subscriptionLive(s.c, s.sub);
  }
  const epoch = pos.sub.epoch;
  for (let n = 1; n <= 2; n++) hub.broadcastPublication('room', { ...pub(n), offset: n }, { offset: n, epoch });
  assert.equal(pos.sub.offset, 2, 'the positioned one advanced at once');
  await turn();
  assert.equal(pos.t.arrays.at(-1)!.length, 2);
  assert.ok(!Object.isFrozen(pos.t.arrays.at(-1)));
  assert.ok(Object.isFrozen(live.t.arrays.at(-1)));
  assert.deepEqual(text(pos.t.arrays.at(-1)!), text(live.t.arrays.at(-1)!));
  await node.shutdown();
  await unpositioned.shutdown();
});

test('a publication a live framing cannot carry closes those subscribers (3506) after the run so far, the others get it', async () => {
  const node = await startNode();
  const hub = new Hub<ClientSession>((framing, reply) => (framing === 'json' && reply.push?.pub?.data?.[0] === 0xff ? undefined : encode(framing, reply)));
  const j = await subscriber(node);
  const p = await subscriber(node, { protocol: 'protobuf' });
  for (const s of [j, p]) {
    hub.addSub(s.c, s.sub);
    hub.subscriptionLive(s.c, s.sub);
  }
  hub.broadcastPublication('room', pub(1), { offset: 0, epoch: '' });
  hub.broadcastPublication('room', { data: new Uint8Array([0xff]), offset: 0, time: 0 }, { offset: 0, epoch: '' });
  assert.equal(j.c.state, 'closed');
  assert.equal(j.t.closed?.code, 3506);
  assert.equal(p.c.state, 'connected');
  await turn();
  assert.equal(p.t.arrays.at(-1)!.length, 2, 'protobuf: both publications');
  await node.shutdown();
});

test('a connection closing mid-turn gets the publications queued before it closed, as one-by-one delivery would', async () => {
  const node = await startNode();
  const a = await subscriber(node);
  const b = await subscriber(node);
  node.hub.broadcastPublication('room', pub(1), { offset: 0, epoch: '' });
  // 3001 (shutdown) flushes the queue before the transport closes; 3008 would drop it.
  a.c.close(Disconnects.shutdown);
  node.hub.broadcastPublication('room', pub(2), { offset: 0, epoch: '' });
  await turn();
  assert.deepEqual(text(a.t.arrays.at(-1)!), [Buffer.from(encode('json', pushOf('room', 1))!).toString()]);
  assert.equal(b.t.arrays.at(-1)!.length, 2);
  await node.shutdown();
});
