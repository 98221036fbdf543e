// The hub's delta variants (subscriptions.md §3.2, §3.5): one patch per publication whatever
// the number of delta subscribers, a subscriber's first publication full and later ones
// patches, full payloads when the patch cannot be used, and JSON data as JSON strings.
// Real sessions on in-memory transports; the hub under test uses the node's encoder path via
// a real node, with a counting patcher.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../brokers/memory/index.js';
import { codecFor } from '../protocol/codec.js';
import { applyDelta } from '../protocol/fossil-delta.js';
import type { Publication } from '../protocol/types.js';
import type { ClientSession } from './client/client.js';
import type { StreamSubscription } from './client/subscription.js';
import { makePatch } from './delta.js';
import { Hub } from './hub.js';
import { MemoryTransport, until, type MemoryTransportOptions } from './memory-transport.test-helper.js';
import { Node } from './node.js';
import type { BrokerPublication } from './ports.js';

async function startNode(): Promise<Node> {
  const node = new Node(
    { client: { insecure: true }, channel: { without_namespace: { history_size: 10, history_ttl: 60_000, force_positioning: true } } },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager() },
  );
  await node.start();
  return node;
}

async function subscriber(node: Node, opts: MemoryTransportOptions): Promise<{ c: ClientSession; t: MemoryTransport; sub: StreamSubscription }> {
  const t = new MemoryTransport(opts);
  const c = node.createClient(t, { headers: {} });
  await c.runCommand({ id: 1, connect: {} });
  await c.runCommand({ id: 2, subscribe: { channel: 'room' } });
  const sub = c.subs.get('room') as StreamSubscription;
  await until(() => t.items.length >= 2);
  return { c, t, sub };
}

/** A hub with the node's own encoder and a patcher that counts its calls. */
function deltaHub(node: Node) {
  const encode = (node.hub as unknown as { encode: ConstructorParameters<typeof Hub>[0] }).encode;
  const counter = { patches: 0 };
  const hub = new Hub<ClientSession>(encode, (prev, cur) => (counter.patches++, makePatch(prev, cur)));
  return { hub, counter };
}

/** The publication of the last item a transport received, with `data` as the SDK reads it (bytes). */
function lastPub(t: MemoryTransport, json: boolean): { pub: Publication; bytes: Uint8Array } {
  const item = t.items.at(-1)!;
  const codec = codecFor(json ? 'json' : 'protobuf');
  const pub = codec.decodeReplies(item)[0]!.push!.pub!;
  if (!json) return { pub, bytes: pub.data ?? new Uint8Array(0) };
  // JSON delta mode: data is a JSON string; the SDK takes its UTF-8 bytes.
  const raw = JSON.parse(Buffer.from(item).toString('utf8')) as { push: { pub: { data: unknown } } };
  assert.equal(typeof raw.push.pub.data, 'string', 'JSON delta-mode data is a JSON string');
  return { pub, bytes: Buffer.from(raw.push.pub.data as string, 'utf8') };
}

/** The SDK's view of one delta subscription: its base, and how many full / delta payloads came. */
class Receiver {
  base: Uint8Array | undefined;
  full = 0;
  deltas = 0;
  constructor(
    readonly t: MemoryTransport,
    readonly json: boolean,
  ) {}
  async next(expected: string): Promise<void> {
    const before = this.full + this.deltas;
    await until(() => this.t.items.length >= 3 + before);
    const { pub, bytes } = lastPub(this.t, this.json);
    let value: Uint8Array;
    if (pub.delta) {
      this.deltas++;
      value = applyDelta(this.base!, bytes);
    } else {
      this.full++;
      value = bytes;
    }
    this.base = value;
    assert.equal(Buffer.from(value).toString('utf8'), expected);
  }
}

const payload = (n: number): Uint8Array => Buffer.from(JSON.stringify({ n, pad: 'x'.repeat(300) }));
const pubAt = (offset: number, data: Uint8Array): BrokerPublication => ({ data, offset, time: 0 });

test('one patch per publication for any number of delta subscribers; first publication full, then patches', async () => {
  const node = await startNode();
  const { hub, counter } = deltaHub(node);
  const receivers: Receiver[] = [];
  let first: StreamSubscription | undefined;
  for (let i = 0; i < 8; i++) {
    const json = i % 2 === 0;
    const s = await subscriber(node, json ? {} : { protocol: 'protobuf' });
    first ??= s.sub;
    hub.addSub(s.c, s.sub, { deltaNegotiated: true });
    receivers.push(new Receiver(s.t, json));
  }
  const epoch = first!.epoch;
  const p1 = pubAt(1, payload(1));
  hub.broadcastPublication('room', p1, { offset: 1, epoch });
  for (const r of receivers) await r.next(Buffer.from(p1.data).toString());
  assert.equal(counter.patches, 0, 'no patch while every subscriber needs a full payload');

  let prev = p1;
  for (let n = 2; n <= 4; n++) {
    const p = pubAt(n, payload(n));
    hub.broadcastPublication('room', p, { offset: n, epoch }, prev);
    for (const r of receivers) await r.next(Buffer.from(p.data).toString());
    assert.equal(counter.patches, n - 1, 'exactly one patch per publication');
    prev = p;
  }
  for (const r of receivers) assert.deepEqual([r.full, r.deltas], [1, 3]);
  await node.shutdown();
});

test('a subscriber that joins later gets a full payload while the others get the patch', async () => {
  const node = await startNode();
  const { hub, counter } = deltaHub(node);
  const a = await subscriber(node, {});
  const epoch = a.sub.epoch;
  hub.addSub(a.c, a.sub, { deltaNegotiated: true });
  const ra = new Receiver(a.t, true);
  const p1 = pubAt(1, payload(1));
  hub.broadcastPublication('room', p1, { offset: 1, epoch });
  await ra.next(Buffer.from(p1.data).toString());

  const b = await subscriber(node, {});
  b.sub.offset = 1; // subscribed after publication 1
  hub.addSub(b.c, b.sub, { deltaNegotiated: true });
  const rb = new Receiver(b.t, true);
  const p2 = pubAt(2, payload(2));
  hub.broadcastPublication('room', p2, { offset: 2, epoch }, p1);
  await ra.next(Buffer.from(p2.data).toString());
  await rb.next(Buffer.from(p2.data).toString());
  assert.deepEqual([ra.full, ra.deltas, rb.full, rb.deltas], [1, 1, 1, 0]);

  const p3 = pubAt(3, payload(3));
  hub.broadcastPublication('room', p3, { offset: 3, epoch }, p2);
  await ra.next(Buffer.from(p3.data).toString());
  await rb.next(Buffer.from(p3.data).toString());
  assert.deepEqual([rb.full, rb.deltas], [1, 1], 'the late subscriber moved to patches');
  assert.equal(counter.patches, 2);

  // setDeltaBase(false): the base is unknown again (e.g. failed recovery): next one full.
  hub.setDeltaBase(b.c, 'room', false);
  const p4 = pubAt(4, payload(4));
  hub.broadcastPublication('room', p4, { offset: 4, epoch }, p3);
  await ra.next(Buffer.from(p4.data).toString());
  await rb.next(Buffer.from(p4.data).toString());
  assert.deepEqual([ra.deltas, rb.full], [3, 2]);
  await node.shutdown();
});

test('full payloads when no patch applies: no prev, prev not the previous offset, patch not smaller, publication outside the stream', async () => {
  const node = await startNode();
  const { hub } = deltaHub(node);
  const s = await subscriber(node, { protocol: 'protobuf' });
  const epoch = s.sub.epoch;
  hub.addSub(s.c, s.sub, { deltaNegotiated: true });
  const r = new Receiver(s.t, false);
  const p1 = pubAt(1, payload(1));
  hub.broadcastPublication('room', p1, { offset: 1, epoch });
  await r.next(Buffer.from(p1.data).toString());
  const p2 = pubAt(2, payload(2));
  hub.broadcastPublication('room', p2, { offset: 2, epoch }); // published without delta
  await r.next(Buffer.from(p2.data).toString());
  const p3 = pubAt(3, payload(3));
  hub.broadcastPublication('room', p3, { offset: 3, epoch }, p1); // not the entry right before
  await r.next(Buffer.from(p3.data).toString());
  const p4 = pubAt(4, Buffer.from('"tiny"'));
  hub.broadcastPublication('room', p4, { offset: 4, epoch }, p3); // a patch would not be smaller
  await r.next('"tiny"');
  assert.deepEqual([r.full, r.deltas], [4, 0]);
  const p5 = pubAt(5, payload(5));
  hub.broadcastPublication('room', p5, { offset: 5, epoch }, p4);
  await r.next(Buffer.from(p5.data).toString());
  assert.equal(r.deltas, 0, 'patch not smaller than a payload grown from 6 bytes');
  const p6 = pubAt(6, payload(6));
  hub.broadcastPublication('room', p6, { offset: 6, epoch }, p5);
  await r.next(Buffer.from(p6.data).toString());
  assert.equal(r.deltas, 1);
  // A publication outside the stream (offset 0) is the client's base but never a patch source.
  const p0 = pubAt(0, payload(100));
  hub.broadcastPublication('room', p0, { offset: 0, epoch });
  await r.next(Buffer.from(p0.data).toString());
  const p7 = pubAt(7, payload(7));
  hub.broadcastPublication('room', p7, { offset: 7, epoch }, p6);
  await r.next(Buffer.from(p7.data).toString());
  assert.deepEqual([r.full, r.deltas], [7, 1], 'after an offset-0 publication the next one goes full');
  await node.shutdown();
});

test('a patch that is not valid UTF-8 goes full on JSON, as a patch on Protobuf', async () => {
  const node = await startNode();
  const { hub, counter } = deltaHub(node);
  const j = await subscriber(node, {});
  const p = await subscriber(node, { protocol: 'protobuf' });
  const epoch = j.sub.epoch;
  hub.addSub(j.c, j.sub, { deltaNegotiated: true });
  hub.addSub(p.c, p.sub, { deltaNegotiated: true });
  const rj = new Receiver(j.t, true);
  const rp = new Receiver(p.t, false);
  // Changing é (C3 A9) into ê (C3 AA) makes the patch insert the lone byte AA.
  const text = (ch: string): string => JSON.stringify({ v: 'a'.repeat(40) + ch + 'b'.repeat(40) });
  const p1 = pubAt(1, Buffer.from(text('é')));
  const p2 = pubAt(2, Buffer.from(text('ê')));
  hub.broadcastPublication('room', p1, { offset: 1, epoch });
  await rj.next(text('é'));
  await rp.next(text('é'));
  hub.broadcastPublication('room', p2, { offset: 2, epoch }, p1);
  await rj.next(text('ê'));
  await rp.next(text('ê'));
  assert.equal(counter.patches, 1);
  assert.deepEqual([rj.full, rj.deltas, rp.full, rp.deltas], [2, 0, 1, 1]);
  await node.shutdown();
});
