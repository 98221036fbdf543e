// Server-side subscriptions take one path whether they come with the connection (connect
// credentials) or later (server API subscribe): the same options give the same subscription,
// decided by the namespace and the override, never by client wishes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../../brokers/memory/index.js';
import { jsonCodec } from '../../protocol/codec.js';
import type { Disconnect } from '../../protocol/codes.js';
import { MemoryTransport, until } from '../memory-transport.test-helper.js';
import { Node } from '../node.js';
import type { ClientSession } from './client.js';
import type { StreamSubscription } from './subscription.js';

const enc = (s: string) => new TextEncoder().encode(s);
const chanInfo = enc('{"role":"reader"}');
const subData = enc('{"welcome":true}');
const override = { join_leave: true, presence: true, force_recovery: true };

async function setup(channelLimit = 128) {
  const node = new Node(
    {
      client: { channel_limit: channelLimit },
      channel: { namespaces: [{ name: 'ns', history_size: 10, history_ttl: 60_000 }, { name: 'other' }] },
    },
    {
      broker: new MemoryBroker(),
      presenceManager: new MemoryPresenceManager(),
      handlers: {
        // Connections sending connect data get the server-side subscription with their credentials.
        onConnecting: async (ctx) => ({ userId: 'u', subs: ctx.data?.length ? { 'ns:room': { info: chanInfo, data: subData, override } } : undefined }),
      },
    },
  );
  await node.start();
  return node;
}

async function connect(node: Node, withSubs: boolean): Promise<{ c: ClientSession; t: MemoryTransport }> {
  const t = new MemoryTransport();
  const c = node.createClient(t, { headers: {} });
  c.handleFrame(jsonCodec.encodeCommand({ id: 1, connect: withSubs ? { data: enc('{}') } : {} }));
  await until(() => t.frames.length >= 1);
  return { c, t };
}

/** What decides a subscription's behaviour, without the per-connection identity. */
function shape(sub: StreamSubscription) {
  return {
    kind: sub.kind,
    state: sub.state,
    serverSide: sub.serverSide,
    positioned: sub.positioned,
    recoverable: sub.recoverable,
    pushJoinLeave: sub.pushJoinLeave,
    emitJoinLeave: sub.emitJoinLeave,
    emitPresence: sub.emitPresence,
    expireAt: sub.expireAt,
    clientSideRefresh: sub.clientSideRefresh,
    chanInfo: Buffer.from(sub.info.chan_info ?? []).toString(),
    user: sub.info.user,
  };
}

test('a subscription from connect credentials and one from the server API come out the same', async () => {
  const node = await setup();
  const a = await connect(node, true);
  const b = await connect(node, false);
  assert.equal(b.c.subs.size, 0);
  await node.subscribe({ user: 'u', client: b.c.id, channel: 'ns:room', info: chanInfo, data: subData, override });

  const expected = {
    kind: 'stream',
    state: 'subscribed',
    serverSide: true,
    positioned: true, // force_recovery override on a channel with history
    recoverable: true,
    pushJoinLeave: false, // client wishes play no part
    emitJoinLeave: true,
    emitPresence: true,
    expireAt: 0,
    clientSideRefresh: false,
    chanInfo: '{"role":"reader"}',
    user: 'u',
  };
  const fromConnect = a.c.subs.get('ns:room') as StreamSubscription;
  const fromApi = b.c.subs.get('ns:room') as StreamSubscription;
  assert.deepEqual(shape(fromConnect), expected);
  assert.deepEqual(shape(fromApi), expected);

  // Announced with the connect result and with a subscribe push respectively, data included.
  const connectReply = JSON.parse(a.t.frames[0]!) as { connect: { subs: Record<string, { data?: unknown; recoverable?: boolean }> } };
  assert.deepEqual(connectReply.connect.subs['ns:room']?.data, { welcome: true });
  assert.equal(connectReply.connect.subs['ns:room']?.recoverable, true);
  await until(() => b.t.frames.length >= 2);
  const push = JSON.parse(b.t.frames[1]!) as { push: { channel: string; subscribe: { data?: unknown; recoverable?: boolean } } };
  assert.equal(push.push.channel, 'ns:room');
  assert.deepEqual(push.push.subscribe.data, { welcome: true });
  assert.equal(push.push.subscribe.recoverable, true);
  // Both are live hub subscribers.
  assert.equal(node.hub.channelCounts().get('ns:room'), 2);
  await node.shutdown();
});

test('the server API subscribe skips a connection that has the channel and disconnects one at its channel limit', async () => {
  const node = await setup(1);
  const a = await connect(node, true);
  // Already subscribed to ns:room: nothing happens.
  await node.subscribe({ user: 'u', client: a.c.id, channel: 'ns:room' });
  assert.equal(a.c.state, 'connected');
  assert.equal(a.t.frames.length, 1);
  // One more channel is past the limit of 1: disconnect 3505.
  await node.subscribe({ user: 'u', client: a.c.id, channel: 'other:x' });
  assert.equal(a.c.state, 'closed');
  assert.equal((a.t.closed as Disconnect | undefined)?.code, 3505);
  await node.shutdown();
});
