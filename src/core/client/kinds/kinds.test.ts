// The subscription kind seams: routing on the subscribe request type (and the answers the
// not-yet-served types keep), the kinds table, and live delivery handed to the kind, including
// the "filtered out" delivery that advances a positioned subscriber without sending anything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../../../brokers/memory/index.js';
import { jsonCodec } from '../../../protocol/codec.js';
import { SubscribeTypes } from '../../../protocol/subscribe-types.js';
import type { Disconnect } from '../../../protocol/codes.js';
import { MemoryTransport, until } from '../../memory-transport.test-helper.js';
import { Node } from '../../node.js';
import { noProxies, type ProxyBindings, type SubscribeStreamProxy } from '../../proxy-ports.js';
import type { StreamSubscription, Subscription } from '../subscription.js';
import { kindOps, opsOf, subscribeFlowFor, subscribeFlows } from './index.js';
import { mapKind, subscribeMapFlow } from './map.js';
import { sharedPollKind, subscribeSharedPollFlow } from './shared-poll.js';
import { streamKind, subscribeStreamFlow } from './stream.js';
import { refuseSubscribeType } from './unsupported.js';

/** A stream proxy that must never be reached by the refused types. */
const unreachableStreamProxy: SubscribeStreamProxy = {
  name: 'test-stream',
  subscribeStream: () => Promise.reject(new Error('the stream proxy must not be called')),
} as unknown as SubscribeStreamProxy;

async function setup() {
  const proxies: ProxyBindings = {
    ...noProxies,
    subscribeStream: (ns) => (ns === 'sp' ? { proxy: unreachableStreamProxy, bidirectional: false } : undefined),
  };
  const node = new Node(
    {
      client: { insecure: true },
      channel: {
        without_namespace: { history_size: 10, history_ttl: 60_000, force_positioning: true },
        namespaces: [
          { name: 'maps', subscription_type: 'map' },
          { name: 'poll', subscription_type: 'shared_poll' },
          { name: 'sp' },
        ],
      },
    },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager(), proxies },
  );
  await node.start();
  const t = new MemoryTransport();
  const c = node.createClient(t, { headers: {} });
  c.handleFrame(jsonCodec.encodeCommand({ id: 1, connect: {} }));
  await until(() => t.frames.length >= 1);
  let nextId = 2;
  /** Sends a subscribe and returns its reply's error code (0 = subscribed). */
  const subscribe = async (channel: string, type?: number, extra: Record<string, unknown> = {}): Promise<number> => {
    const id = nextId++;
    const before = t.frames.length;
    c.handleFrame(jsonCodec.encodeCommand({ id, subscribe: { channel, type, ...extra } }));
    await until(() => t.frames.slice(before).some((f) => JSON.parse(f).id === id) || t.closed !== undefined);
    const reply = t.frames.slice(before).map((f) => JSON.parse(f) as { id?: number; error?: { code: number } }).find((r) => r.id === id);
    return reply?.error?.code ?? 0;
  };
  return { node, t, c, subscribe };
}

test('the subscribe request type routes to its flow: stream, map and shared poll served, unknown types refused', async () => {
  const { node, subscribe } = await setup();
  assert.equal(await subscribe('room', SubscribeTypes.map), 103, 'map request in a stream namespace');
  assert.equal(await subscribe('room', SubscribeTypes.mapClients), 103);
  assert.equal(await subscribe('room', SubscribeTypes.mapUsers), 103);
  assert.equal(await subscribe('room', SubscribeTypes.sharedPoll), 108, 'shared-poll request outside a shared-poll namespace');
  assert.equal(await subscribe('room', 9), 103, 'an unknown type');
  assert.equal(await subscribe('maps:a', SubscribeTypes.map), 108, 'map namespace, map request: this node has no map broker');
  assert.equal(await subscribe('maps:a', SubscribeTypes.mapClients), 103, 'map_clients request in a map namespace');
  assert.equal(await subscribe('maps:a', SubscribeTypes.stream), 103, 'stream request in a map namespace');
  assert.equal(await subscribe('poll:a', SubscribeTypes.stream), 107, 'stream request in a shared-poll namespace');
  assert.equal(await subscribe('poll:a', SubscribeTypes.map), 107, 'map request in a shared-poll namespace');
  assert.equal(await subscribe('poll:a', SubscribeTypes.sharedPoll), 0, 'shared poll served');
  assert.equal(await subscribe('sp:a', SubscribeTypes.sharedPoll), 108, 'shared-poll request in a stream-proxy namespace');
  assert.equal(await subscribe('nope:a', SubscribeTypes.map), 102, 'unknown namespace first');
  assert.equal(await subscribe('room', undefined), 0, 'absent type = stream');
  assert.equal(await subscribe('room', SubscribeTypes.map), 105, 'already subscribed comes before the type');
  await node.shutdown();
});

test('a refused type with an unknown delta still disconnects with 3501', async () => {
  const { node, t, subscribe } = await setup();
  await subscribe('poll:a', SubscribeTypes.sharedPoll, { delta: 'zstd' });
  assert.equal((t.closed as Disconnect | undefined)?.code, 3501);
  await node.shutdown();
});

test('the flow and kind tables have one entry per type and per kind', () => {
  assert.equal(subscribeFlowFor(undefined), subscribeStreamFlow);
  assert.equal(subscribeFlowFor(SubscribeTypes.stream), subscribeStreamFlow);
  for (const type of [SubscribeTypes.map, SubscribeTypes.mapClients, SubscribeTypes.mapUsers]) assert.equal(subscribeFlowFor(type), subscribeMapFlow, `type ${type}`);
  assert.equal(subscribeFlowFor(SubscribeTypes.sharedPoll), subscribeSharedPollFlow);
  for (const type of [5, -1]) {
    assert.equal(subscribeFlowFor(type), refuseSubscribeType, `type ${type}`);
  }
  assert.deepEqual(Object.keys(subscribeFlows).map(Number).sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual(Object.keys(kindOps).sort(), ['map', 'shared_poll', 'stream']);
  const base = { channel: 'x', state: 'subscribed', serverSide: false, pushJoinLeave: false, emitJoinLeave: false, emitPresence: false, expireAt: 0, clientSideRefresh: false, info: { user: '', client: '' } } as const;
  const subs: Subscription[] = [
    { ...base, kind: 'stream', positioned: false, recoverable: false, offset: 0, epoch: '' },
    {
      ...base,
      kind: 'map',
      mapType: 1,
      phase: 0,
      positioned: false,
      offset: 0,
      epoch: '',
      startedAtMs: 0,
      settings: { broker: { mode: 'ephemeral', keyTtlMs: 1, streamSize: 0, streamTtlMs: 0, metaTtlMs: 0 }, defaultPageSize: 100, minPageSize: 100, maxPageSize: 1000, liveLimit: 1000, catchUpTimeoutMs: 5000, presence: false },
    },
    { ...base, kind: 'shared_poll', epoch: '' },
  ];
  assert.deepEqual(subs.map(opsOf), [streamKind, mapKind, sharedPollKind]);
});

test('live delivery goes to the kind; a filtered-out delivery advances the position and sends nothing', async () => {
  const { node, t, c, subscribe } = await setup();
  assert.equal(await subscribe('room'), 0);
  const sub = c.subs.get('room') as StreamSubscription;
  assert.equal(sub.kind, 'stream');
  assert.equal(sub.positioned, true);
  const epoch = sub.epoch;
  const item = jsonCodec.encodeReply({ push: { channel: 'room', pub: { data: new TextEncoder().encode('{"n":1}'), offset: 1 } } });
  const before = t.frames.length;
  c.deliverPublication(sub, { data: new Uint8Array(), offset: 1, time: 0 }, { offset: 1, epoch }, undefined);
  assert.equal(sub.offset, 1, 'filtered publication still counts for the position');
  c.deliverPublication(sub, { data: new Uint8Array(), offset: 2, time: 0 }, { offset: 2, epoch }, item);
  assert.equal(sub.offset, 2, 'the next offset is no gap');
  await until(() => t.frames.length > before);
  assert.equal(t.frames.length - before, 1, 'only the delivered publication was written');
  assert.equal(t.closed, undefined);
  await node.shutdown();
});
