// The map kind's phases (subscriptions.md §5) over the memory map broker and an in-memory JSON
// connection: STATE paging with the frozen position, the STREAM catch-up, the transition to
// LIVE with its publications, recovery and unrecoverable positions, live changes by key,
// release, map presence and client map publish / remove with their permissions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../../../brokers/memory/index.js';
import { MemoryMapBroker } from '../../../brokers/memory/memory-map-broker.js';
import { jsonCodec } from '../../../protocol/codec.js';
import { applyDelta } from '../../../protocol/fossil-delta.js';
import { MemoryTransport, until } from '../../memory-transport.test-helper.js';
import { Node } from '../../node.js';
import type { ClientSession } from '../client.js';
import type { MapSubscription } from '../subscription.js';
import { mapKind } from './map.js';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

interface Frame {
  id?: number;
  error?: { code: number };
  subscribe?: Record<string, unknown> & { state?: Pub[]; publications?: Pub[] };
  push?: { channel: string; pub?: Pub; unsubscribe?: { code: number } };
  publish?: object;
}
interface Pub {
  key: string;
  data?: unknown;
  offset?: number;
  removed?: boolean;
  info?: { client: string };
}

async function setup(userId = '') {
  const mapBroker = new MemoryMapBroker();
  const node = new Node(
    {
      client: { insecure: userId === '' },
      channel: {
        namespaces: [
          { name: 'eph', subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: 60_000 }, allow_subscribe_for_client: true },
          { name: 'pers', subscription_type: 'map', map: { mode: 'persistent', min_page_size: 2, max_page_size: 2 }, allow_subscribe_for_client: true },
          { name: 'small', subscription_type: 'map', map: { mode: 'persistent', stream_size: 2, min_page_size: 2 }, allow_subscribe_for_client: true },
          {
            name: 'sub',
            subscription_type: 'map',
            map: { mode: 'ephemeral', key_ttl: 60_000, client_key: 'client_id', allow_publish_for_subscriber: true },
            allow_subscribe_for_client: true,
          },
          {
            name: 'watched',
            subscription_type: 'map',
            map: { mode: 'ephemeral', key_ttl: 60_000 },
            map_clients_presence_channel_prefix: 'who:',
            allow_subscribe_for_client: true,
          },
          { name: 'who', subscription_type: 'map_clients', map: { mode: 'ephemeral', key_ttl: 60_000 }, allow_subscribe_for_client: true },
          {
            name: 'cur',
            subscription_type: 'map',
            map: { mode: 'ephemeral', key_ttl: 60_000, client_key: 'client_id', remove_client_on_unsubscribe: true, allow_publish_for_subscriber: true },
            allow_subscribe_for_client: true,
          },
          {
            name: 'seen',
            subscription_type: 'map',
            map: { mode: 'ephemeral', key_ttl: 60_000 },
            map_users_presence_channel_prefix: 'users:',
            allow_subscribe_for_client: true,
          },
          { name: 'users', subscription_type: 'map_users', map: { mode: 'ephemeral', key_ttl: 60_000 }, allow_subscribe_for_client: true },
          { name: 'dmap', subscription_type: 'map', map: { mode: 'persistent' }, allowed_delta_types: ['fossil'], delta_publish: true, allow_subscribe_for_client: true },
        ],
      },
    },
    {
      broker: new MemoryBroker(),
      presenceManager: new MemoryPresenceManager(),
      mapBroker,
      handlers: userId ? { onConnecting: async () => ({ userId }) } : {},
    },
  );
  await node.start();
  return { node, mapBroker, connect: () => connect(node) };
}

async function connect(node: Node) {
  const t = new MemoryTransport();
  const c: ClientSession = node.createClient(t, { headers: {} });
  c.handleFrame(jsonCodec.encodeCommand({ id: 1, connect: {} }));
  await until(() => t.frames.length >= 1);
  let nextId = 2;
  const frames = (): Frame[] => t.frames.map((f) => JSON.parse(f) as Frame);
  /** Sends a command and returns its reply. */
  const send = async (cmd: Record<string, unknown>): Promise<Frame> => {
    const id = nextId++;
    c.handleFrame(jsonCodec.encodeCommand({ id, ...cmd }));
    await until(() => frames().some((f) => f.id === id) || t.closed !== undefined);
    const r = frames().find((f) => f.id === id);
    assert.ok(r, `reply to ${JSON.stringify(cmd)} (closed: ${t.closed?.code})`);
    return r;
  };
  const sub = (req: Record<string, unknown>) => send({ subscribe: { type: 1, flag: 1, ...req } });
  const pushes = (channel: string): Pub[] => frames().filter((f) => f.push?.channel === channel && f.push.pub).map((f) => f.push!.pub!);
  return { t, c, send, sub, pushes, frames };
}

const data = (p: Pub): unknown => p.data;

async function untilAsync(cond: () => Promise<boolean>, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('ephemeral map: empty STATE goes live at once; live writes and removals arrive by key', async () => {
  const { node, connect } = await setup();
  const a = await connect();
  const r = await a.sub({ channel: 'eph:m', phase: 2 });
  assert.equal(r.subscribe?.type, 1);
  assert.equal(r.subscribe?.phase, undefined, 'LIVE result omits the phase');
  assert.ok(typeof r.subscribe?.epoch === 'string' && r.subscribe.epoch !== '');
  assert.equal(r.subscribe?.recoverable, undefined, 'no recovery without a stream');
  await node.maps!.publish({ channel: 'eph:m', key: 'k1', data: enc({ v: 1 }) });
  await node.maps!.remove({ channel: 'eph:m', key: 'k1' });
  await until(() => a.pushes('eph:m').length === 2);
  assert.deepEqual(a.pushes('eph:m'), [{ key: 'k1', data: { v: 1 } }, { key: 'k1', removed: true }]);
  // A direct LIVE request (a recovery join) gets the same epoch.
  const b = await connect();
  assert.equal((await b.sub({ channel: 'eph:m', phase: 0 })).subscribe?.epoch, r.subscribe?.epoch);
  // An unknown delta type is not negotiated (no disconnect, no delta).
  const u = await connect();
  const ru = await u.sub({ channel: 'eph:other', phase: 2, delta: 'zstd' });
  assert.equal(ru.subscribe?.delta, undefined);
  assert.equal(u.t.closed, undefined);
  // A second STATE attempt on a live subscription is refused.
  assert.equal((await a.sub({ channel: 'eph:m', phase: 2 })).error?.code, 105);
  await node.shutdown();
});

test('persistent map: STATE pages keep the first page position, changes made meanwhile come in the LIVE publications', async () => {
  const { node, connect } = await setup();
  for (const k of ['a', 'b', 'c', 'd', 'e']) await node.maps!.publish({ channel: 'pers:m', key: k, data: enc(k) });
  const a = await connect();
  const p1 = (await a.sub({ channel: 'pers:m', phase: 2, limit: 2 })).subscribe!;
  assert.equal(p1.phase, 2);
  assert.equal(p1.cursor, 'b');
  assert.equal(p1.offset, 5);
  assert.deepEqual(p1.state!.map((e) => e.key), ['a', 'b']);
  await node.maps!.publish({ channel: 'pers:m', key: 'a', data: enc('a2') });
  await node.maps!.publish({ channel: 'pers:m', key: 'd', data: enc('d2') });
  const p2 = (await a.sub({ channel: 'pers:m', phase: 2, limit: 2, cursor: 'b', offset: 5, epoch: p1.epoch })).subscribe!;
  assert.equal(p2.phase, 2);
  assert.deepEqual(p2.state!.map((e) => e.key), ['c'], 'd changed after the first page: left to the stream');
  assert.equal(p2.offset, 5, 'pages report the frozen position');
  const p3 = (await a.sub({ channel: 'pers:m', phase: 2, limit: 2, cursor: p2.cursor, offset: 5, epoch: p1.epoch })).subscribe!;
  assert.equal(p3.phase, undefined, 'the last page went LIVE');
  assert.equal(p3.recoverable, true);
  assert.equal(p3.offset, 7);
  assert.deepEqual(p3.state!.map((e) => e.key), ['e']);
  assert.deepEqual(p3.publications!.map((p) => [p.key, p.offset, data(p)]), [['a', 6, 'a2'], ['d', 7, 'd2']]);
  await node.maps!.publish({ channel: 'pers:m', key: 'b', data: enc('b2') });
  await until(() => a.pushes('pers:m').length === 1);
  assert.deepEqual(a.pushes('pers:m')[0], { key: 'b', data: 'b2', offset: 8 });
  await node.shutdown();
});

test('persistent map: STREAM pages catch up until the rest fits the transition', async () => {
  const { node, connect } = await setup();
  for (const k of ['a', 'b', 'c']) await node.maps!.publish({ channel: 'pers:s', key: k, data: enc(k) });
  const a = await connect();
  const p1 = (await a.sub({ channel: 'pers:s', phase: 2, limit: 2 })).subscribe!;
  for (let i = 0; i < 5; i++) await node.maps!.publish({ channel: 'pers:s', key: 'z', data: enc(i) });
  const p2 = (await a.sub({ channel: 'pers:s', phase: 2, limit: 2, cursor: p1.cursor, offset: 3, epoch: p1.epoch })).subscribe!;
  assert.equal(p2.phase, 2, 'too far behind to go live from the last state page');
  assert.equal(p2.cursor, undefined);
  const s1 = (await a.sub({ channel: 'pers:s', phase: 1, offset: 3, epoch: p1.epoch, limit: 2 })).subscribe!;
  assert.equal(s1.phase, 1);
  assert.equal(s1.offset, 5);
  assert.deepEqual(s1.publications!.map((p) => p.offset), [4, 5]);
  const s2 = (await a.sub({ channel: 'pers:s', phase: 1, offset: 5, epoch: p1.epoch, limit: 2 })).subscribe!;
  assert.equal(s2.phase, 1, '5 + 2 is still short of the top (8) seen by the first STREAM request');
  assert.deepEqual(s2.publications!.map((p) => p.offset), [6, 7]);
  const s3 = (await a.sub({ channel: 'pers:s', phase: 1, offset: 7, epoch: p1.epoch, limit: 2 })).subscribe!;
  assert.equal(s3.phase, undefined);
  assert.equal(s3.offset, 8);
  assert.deepEqual(s3.publications!.map((p) => [p.key, p.offset, data(p)]), [['z', 8, 4]]);
  assert.equal(s3.recovered, undefined, 'not a recovery');
  await node.shutdown();
});

test('recovery from a position, an unrecoverable one (112), and a cursor without reservation (103)', async () => {
  const { node, connect } = await setup();
  const a = await connect();
  const live = (await a.sub({ channel: 'small:m', phase: 2 })).subscribe!;
  await a.send({ unsubscribe: { channel: 'small:m' } });
  await node.maps!.publish({ channel: 'small:m', key: 'x', data: enc(1) });
  const rec = (await a.sub({ channel: 'small:m', phase: 1, recover: true, offset: live.offset ?? 0, epoch: live.epoch })).subscribe!;
  assert.equal(rec.recovered, true);
  assert.equal(rec.was_recovering, true);
  assert.deepEqual(rec.publications!.map((p) => p.key), ['x']);
  await a.send({ unsubscribe: { channel: 'small:m' } });
  for (let i = 0; i < 4; i++) await node.maps!.publish({ channel: 'small:m', key: 'y', data: enc(i) });
  const lost = await a.sub({ channel: 'small:m', phase: 1, recover: true, offset: rec.offset, epoch: live.epoch });
  assert.equal(lost.error?.code, 112, 'the stream (size 2) no longer holds the missed changes');
  assert.equal(a.c.subs.has('small:m'), false, 'the failed attempt left no reservation');
  assert.equal((await a.sub({ channel: 'small:m', phase: 1, offset: 1, epoch: 'other', recover: true })).error?.code, 112, 'another epoch');
  assert.equal((await a.sub({ channel: 'small:m', phase: 2, cursor: 'y' })).error?.code, 103);
  assert.equal((await a.sub({ channel: 'small:m', phase: 1 })).error?.code, 103, 'STREAM without reservation or recover');
  assert.equal((await a.sub({ channel: 'eph:m', phase: 1, recover: true })).error?.code, 107, 'no stream in ephemeral mode');
  await node.shutdown();
});

test('unsubscribe releases the hub entry and the map broker interest', async () => {
  const { node, mapBroker, connect } = await setup();
  const a = await connect();
  await a.sub({ channel: 'eph:r', phase: 2 });
  assert.equal(node.hub.hasSubscribers('eph:r'), true);
  await a.send({ unsubscribe: { channel: 'eph:r' } });
  assert.equal(node.hub.hasSubscribers('eph:r'), false);
  await until(() => !(mapBroker as unknown as { subscribed: Set<string> }).subscribed.has('eph:r'));
  await node.maps!.publish({ channel: 'eph:r', key: 'k', data: enc(1) });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(a.pushes('eph:r').length, 0);
  await node.shutdown();
});

test('map clients presence: subscribers are written on LIVE and removed on unsubscribe', async () => {
  const { node, connect } = await setup();
  const watcher = await connect();
  const w = (await watcher.sub({ channel: 'who:watched:1', type: 2, phase: 2 })).subscribe!;
  assert.equal(w.type, 1, 'presence subscriptions answer type 1');
  const b = await connect();
  await b.sub({ channel: 'watched:1', phase: 2 });
  await until(() => watcher.pushes('who:watched:1').length === 1);
  assert.deepEqual(watcher.pushes('who:watched:1')[0], { key: b.c.id, info: { user: '', client: b.c.id } });
  await b.send({ unsubscribe: { channel: 'watched:1' } });
  await until(() => watcher.pushes('who:watched:1').length === 2);
  assert.deepEqual(watcher.pushes('who:watched:1')[1], { key: b.c.id, removed: true });
  await node.shutdown();
});

test('client map publish: subscriber permission, client_id key, and remove', async () => {
  const { node, connect } = await setup('u1');
  const a = await connect();
  assert.equal((await a.send({ publish: { channel: 'sub:m', type: 1, key: 'k', data: enc(1) } })).error?.code, 103, 'not subscribed yet');
  await a.sub({ channel: 'sub:m', phase: 2 });
  const ok = await a.send({ publish: { channel: 'sub:m', type: 1, key: 'arbitrary', data: enc(2) } });
  assert.deepEqual(ok.publish, {});
  await until(() => a.pushes('sub:m').length === 1);
  const p = a.pushes('sub:m')[0]!;
  assert.equal(p.key, a.c.id, 'client_key: client_id replaces the sent key');
  assert.equal(p.info?.client, a.c.id, 'the writer is the info');
  assert.equal((await a.send({ publish: { channel: 'sub:m', type: 1, key: 'k', removed: true } })).error?.code, 103, 'removal is not allowed here');
  assert.equal((await a.send({ publish: { channel: 'eph:m', type: 1, key: 'k', data: enc(1) } })).error?.code, 103, 'no publish rule');
  await node.shutdown();
});

test('map presence entries are kept alive by the presence tick while the subscriber stays', async () => {
  const mapBroker = new MemoryMapBroker({ sweepIntervalMs: 50 });
  const node = new Node(
    {
      client: { insecure: true, presence_update_interval: 100 },
      channel: {
        namespaces: [
          { name: 'watched', subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: 60_000 }, map_clients_presence_channel_prefix: 'who:' },
          { name: 'who', subscription_type: 'map_clients', map: { mode: 'ephemeral', key_ttl: 400 } },
        ],
      },
    },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager(), mapBroker },
  );
  await node.start();
  const a = await connect(node);
  await a.sub({ channel: 'watched:1', phase: 2 });
  await untilAsync(async () => (await node.maps!.stats('who:watched:1')).numKeys === 1);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal((await node.maps!.stats('who:watched:1')).numKeys, 1, 'refreshed past its key_ttl');
  await a.send({ unsubscribe: { channel: 'watched:1' } });
  await untilAsync(async () => (await node.maps!.stats('who:watched:1')).numKeys === 0);
  await node.shutdown();
});

test('the transition buffer: changes up to the LIVE position are dropped, later ones follow the reply, a gap ends with 2500', async () => {
  const { node, connect } = await setup();
  const a = await connect();
  const sub: MapSubscription = {
    kind: 'map',
    channel: 'pers:buf',
    state: 'subscribing',
    serverSide: false,
    mapType: 1,
    phase: 0,
    positioned: true,
    offset: 5,
    epoch: 'E',
    startedAtMs: 0,
    pushJoinLeave: false,
    emitJoinLeave: false,
    emitPresence: false,
    expireAt: 0,
    clientSideRefresh: false,
    info: { user: '', client: a.c.id },
    settings: { broker: { mode: 'persistent', keyTtlMs: 0, streamSize: 100, streamTtlMs: 60_000, metaTtlMs: 0 }, defaultPageSize: 100, minPageSize: 100, maxPageSize: 1000, liveLimit: 1000, catchUpTimeoutMs: 5000, presence: false },
    buffer: [],
  };
  a.c.subs.set(sub.channel, sub);
  const item = (offset: number) => jsonCodec.encodeReply({ push: { channel: sub.channel, pub: { key: `k${offset}`, offset } } });
  const pub = (offset: number) => ({ key: `k${offset}`, data: new Uint8Array(0), offset, time: 0 });
  for (const o of [4, 5, 6, 7]) mapKind.deliver(a.c, sub, pub(o), { offset: o, epoch: 'E' }, item(o));
  assert.equal(a.pushes(sub.channel).length, 0, 'held while subscribing');
  mapKind.finish(a.c, sub);
  assert.equal(sub.state, 'subscribed');
  await until(() => a.pushes(sub.channel).length === 2);
  assert.deepEqual(a.pushes(sub.channel).map((p) => p.offset), [6, 7]);
  assert.equal(sub.offset, 7);
  mapKind.deliver(a.c, sub, pub(9), { offset: 9, epoch: 'E' }, item(9));
  await until(() => a.frames().some((f) => f.push?.unsubscribe?.code === 2500));
  assert.equal(a.c.subs.has(sub.channel), false);
  await node.shutdown();
});

test('remove_client_on_unsubscribe drops the client key; map_users entries carry the user and stay', async () => {
  const { node, connect } = await setup('u7');
  const a = await connect();
  await a.sub({ channel: 'cur:1', phase: 2 });
  await a.send({ publish: { channel: 'cur:1', type: 1, key: 'x', data: enc(1) } });
  assert.deepEqual((await node.maps!.readState({ channel: 'cur:1', limit: 0 })).entries.map((e) => e.key), [a.c.id]);
  await a.send({ unsubscribe: { channel: 'cur:1' } });
  await untilAsync(async () => (await node.maps!.stats('cur:1')).numKeys === 0);

  const watcher = await connect();
  await watcher.sub({ channel: 'users:seen:1', type: 3, phase: 2 });
  await a.sub({ channel: 'seen:1', phase: 2 });
  await until(() => watcher.pushes('users:seen:1').length === 1);
  assert.deepEqual(watcher.pushes('users:seen:1')[0], { key: 'u7' }, 'no data, no info');
  await a.send({ unsubscribe: { channel: 'seen:1' } });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(watcher.pushes('users:seen:1').length, 1, 'map_users entries only expire');
  assert.equal((await node.maps!.stats('users:seen:1')).numKeys, 1);
  await node.shutdown();
});

test('delta on a map: full state as JSON strings, live changes of a key as patches against its previous value, removals "null"', async () => {
  const { node, connect } = await setup();
  const channel = 'dmap:1';
  const pad = 'x'.repeat(300);
  const v = (n: number) => JSON.stringify({ n, pad });
  await node.maps!.publish({ channel, key: 'p', data: new TextEncoder().encode(v(1)) });
  const a = await connect();
  const r = (await a.sub({ channel, phase: 2, delta: 'fossil' })).subscribe!;
  assert.equal(r.delta, true);
  assert.equal(r.state![0]!.data, v(1), 'a state entry is the payload text as a JSON string');
  let base: Uint8Array = new TextEncoder().encode(r.state![0]!.data as string);
  for (const n of [2, 3]) await node.maps!.publish({ channel, key: 'p', data: new TextEncoder().encode(v(n)), delta: true });
  await node.maps!.publish({ channel, key: 'q', data: new TextEncoder().encode(v(9)), delta: true });
  await node.maps!.remove({ channel, key: 'p' });
  await until(() => a.pushes(channel).length === 4);
  const [p2, p3, q, gone] = a.pushes(channel) as (Pub & { delta?: boolean })[];
  for (const [p, n] of [[p2!, 2], [p3!, 3]] as const) {
    assert.equal(p.delta, true, `update ${n} is a patch`);
    base = applyDelta(base, new TextEncoder().encode(p.data as string));
    assert.equal(new TextDecoder().decode(base), v(n));
  }
  assert.equal(q!.delta, undefined, 'a new key goes full');
  assert.equal(q!.data, v(9));
  assert.deepEqual([gone!.key, gone!.removed, gone!.data, gone!.delta], ['p', true, 'null', undefined]);
  await node.shutdown();
});
