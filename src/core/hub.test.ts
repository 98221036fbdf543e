// The hub's delivery variants: a publication is encoded once per (framing × delivery mode)
// present among a channel's subscribers, never per subscriber, and a subscriber whose tags
// filter rejects it (without delta) gets no item but still advances its position. Real
// sessions on in-memory transports; the hub under test gets a counting encoder and fake
// filter / delta flags (neither feature is wired yet).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../brokers/memory/index.js';
import { codecFor } from '../protocol/codec.js';
import type { Reply } from '../protocol/types.js';
import type { TagsPredicate } from '../protocol/tag-filter.js';
import type { ClientSession } from './client/client.js';
import type { StreamSubscription } from './client/subscription.js';
import { DeliveryModes, Hub, type DeliveryMode, type PushFraming } from './hub.js';
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

/** A connected session subscribed (positioned) to `room`. */
async function subscriber(node: Node, opts: MemoryTransportOptions): Promise<{ c: ClientSession; t: MemoryTransport; sub: StreamSubscription }> {
  const t = new MemoryTransport(opts);
  const c = node.createClient(t, { headers: {} });
  await c.runCommand({ id: 1, connect: {} });
  await c.runCommand({ id: 2, subscribe: { channel: 'room' } });
  const sub = c.subs.get('room') as StreamSubscription;
  await until(() => t.items.length >= 2); // the connect and subscribe replies, flushed
  assert.equal(sub.state, 'subscribed');
  assert.equal(sub.positioned, true);
  return { c, t, sub };
}

/** A hub whose encoder counts its calls per variant and remembers what it returned. */
function countingHub() {
  const calls = new Map<string, number>();
  const made = new Map<string, Uint8Array>();
  const hub = new Hub<ClientSession>((framing: PushFraming, reply: Reply, mode: DeliveryMode) => {
    const key = `${framing}/${mode}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    const uni = framing.endsWith('-uni');
    const codec = codecFor(uni ? (framing.slice(0, -4) as 'json' | 'protobuf') : (framing as 'json' | 'protobuf'));
    const item = uni ? codec.encodePush(reply.push ?? {}) : codec.encodeReply(reply);
    made.set(key, item);
    return item;
  });
  return { hub, calls, made };
}

const FRAMINGS: { name: PushFraming; opts: MemoryTransportOptions }[] = [
  { name: 'json', opts: {} },
  { name: 'protobuf', opts: { protocol: 'protobuf' } },
  { name: 'json-uni', opts: { unidirectional: true } },
];

test('3 framings × delta on/off × filter pass/fail: one encode per variant, filtered-out plain subscribers skipped but advanced', async () => {
  const node = await startNode();
  const { hub, calls, made } = countingHub();
  const passes: TagsPredicate = (tags) => tags?.team === 'eng';
  const fails: TagsPredicate = (tags) => tags?.team === 'ops';
  let filterCalls = 0;
  const counted = (f: TagsPredicate): TagsPredicate => (tags) => (filterCalls++, f(tags));
  const subs: { framing: PushFraming; delta: boolean; pass: boolean; c: ClientSession; t: MemoryTransport; sub: StreamSubscription }[] = [];
  // Framing varies fastest so consecutive subscribers keep switching variants (the front cache misses).
  for (const delta of [false, true]) {
    for (const pass of [true, false]) {
      for (const f of FRAMINGS) {
        const s = await subscriber(node, f.opts);
        hub.addSub(s.c, s.sub, { deltaNegotiated: delta, filter: counted(pass ? passes : fails) });
        subs.push({ framing: f.name, delta, pass, ...s });
      }
    }
  }
  const epoch = subs[0]!.sub.epoch;
  const written = subs.map((s) => s.t.items.length);
  const pub: BrokerPublication = { data: new TextEncoder().encode('{"n":1}'), offset: 1, time: 0, tags: { team: 'eng' } };
  hub.broadcastPublication('room', pub, { offset: 1, epoch });

  const expected = new Map<string, number>();
  for (const f of FRAMINGS) for (const mode of [DeliveryModes.plain, DeliveryModes.deltaFull]) expected.set(`${f.name}/${mode}`, 1);
  assert.deepEqual(new Map([...calls].sort()), new Map([...expected].sort()), 'exactly one encode per distinct variant');
  assert.equal(filterCalls, 6, 'filters are asked only for subscribers without delta');

  for (const [i, s] of subs.entries()) {
    const label = `${s.framing} delta=${s.delta} pass=${s.pass}`;
    assert.equal(s.sub.offset, 1, `${label}: position advanced`);
    if (!s.delta && !s.pass) {
      await new Promise((r) => setTimeout(r, 20)); // past the writer's end-of-turn flush
      assert.equal(s.t.items.length, written[i], `${label}: nothing sent`);
      continue;
    }
    await until(() => s.t.items.length > written[i]!);
    const mode = s.delta ? DeliveryModes.deltaFull : DeliveryModes.plain;
    assert.equal(s.t.items.at(-1), made.get(`${s.framing}/${mode}`), `${label}: the variant's shared bytes`);
    assert.equal(s.t.closed, undefined, label);
  }
  await node.shutdown();
});

test('subscribers sharing one variant cost one encode, whatever their number', async () => {
  const node = await startNode();
  const { hub, calls, made } = countingHub();
  const subs = [];
  for (let i = 0; i < 5; i++) {
    const s = await subscriber(node, {});
    hub.addSub(s.c, s.sub);
    subs.push(s);
  }
  const before = subs.map((s) => s.t.items.length);
  const epoch = subs[0]!.sub.epoch;
  hub.broadcastPublication('room', { data: new TextEncoder().encode('1'), offset: 1, time: 0 }, { offset: 1, epoch });
  hub.broadcastPublication('room', { data: new TextEncoder().encode('2'), offset: 2, time: 0 }, { offset: 2, epoch });
  assert.deepEqual([...calls], [['json/0', 2]], 'one encode per publication');
  for (const [i, s] of subs.entries()) {
    await until(() => s.t.items.length >= before[i]! + 2);
    assert.equal(s.t.items.at(-1), made.get('json/0'));
    assert.equal(s.sub.offset, 2);
  }
  await node.shutdown();
});

test('a publication a framing cannot carry fails only that framing, encoded once', async () => {
  const node = await startNode();
  let encodes = 0;
  // JSON cannot carry this payload (the fake stands for binary data on a JSON connection).
  const hub = new Hub<ClientSession>((framing, reply) => (encodes++, framing === 'json' ? undefined : codecFor('protobuf').encodeReply(reply)));
  const a = await subscriber(node, {});
  const b = await subscriber(node, {});
  const p = await subscriber(node, { protocol: 'protobuf' });
  for (const s of [a, p, b]) hub.addSub(s.c, s.sub);
  hub.broadcastPublication('room', { data: new Uint8Array([1]), offset: 1, time: 0 }, { offset: 1, epoch: a.sub.epoch });
  assert.equal(encodes, 2, 'json once (refused), protobuf once');
  assert.equal(a.c.state, 'closed');
  assert.equal(b.c.state, 'closed');
  assert.equal(p.c.state, 'connected');
  await node.shutdown();
});
