// The shared-poll kind on a real Node with in-memory transports and a backend port that
// answers at once: the subscribe result, the track reply written before any push it causes,
// one encoding per publication and framing shared by every subscriber, untrack, and the
// routing of sub_refresh types (103 when not subscribed, token refresh on other kinds).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, MemoryPresenceManager } from '../../../brokers/memory/index.js';
import { jsonCodec } from '../../../protocol/codec.js';
import { SubscribeTypes } from '../../../protocol/subscribe-types.js';
import { MemoryTransport, until } from '../../memory-transport.test-helper.js';
import { Node } from '../../node.js';
import { noProxies, type SharedPollRefreshProxy, type SharedPollRefreshRequest } from '../../proxy-ports.js';
import { signTrack } from '../../shared-poll/index.js';
import type { ClientSession } from '../client.js';

const SECRET = 'unit-secret';

async function setup() {
  const requests: SharedPollRefreshRequest[] = [];
  const backend: SharedPollRefreshProxy = {
    name: 'test',
    protocol: 'http',
    sharedPollRefresh: (req) => {
      requests.push(req);
      return Promise.resolve({ items: req.items.map((it) => ({ key: it.key, version: 5, data: new TextEncoder().encode(`{"k":"${it.key}"}`) })), epoch: '' });
    },
  } as SharedPollRefreshProxy;
  const node = new Node(
    {
      shared_poll: { hmac_secret_key: SECRET },
      channel: {
        without_namespace: { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
        namespaces: [
          {
            name: 'poll',
            subscription_type: 'shared_poll',
            allow_subscribe_for_client: true,
            allow_subscribe_for_anonymous: true,
            shared_poll: { mode: 'versioned', refresh_interval: 60_000 },
          },
        ],
      },
      client: { allow_anonymous_connect_without_token: true },
    },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager(), proxies: { ...noProxies, sharedPollRefresh: (ns) => (ns === 'poll' ? backend : undefined) } },
  );
  await node.start();
  let nextId = 1;
  const connect = async (): Promise<{ t: MemoryTransport; c: ClientSession; send: (cmd: Record<string, unknown>) => Promise<any> }> => {
    const t = new MemoryTransport();
    const c = node.createClient(t, { headers: {} });
    /** Sends a command and resolves with its reply. */
    const send = async (cmd: Record<string, unknown>): Promise<any> => {
      const id = nextId++;
      c.handleFrame(jsonCodec.encodeCommand({ id, ...cmd }));
      await until(() => t.frames.some((f) => JSON.parse(f).id === id));
      return t.frames.map((f) => JSON.parse(f)).find((r) => r.id === id);
    };
    await send({ connect: {} });
    return { t, c, send };
  };
  return { node, connect, requests };
}

const signed = (channel: string, keys: string[]): string => signTrack(SECRET, { iat: Math.floor(Date.now() / 1000), exp: 0, user: '', channel, keys });

test('subscribe answers type 4 and an epoch-less versioned result; track replies before its pushes', async () => {
  const { node, connect, requests } = await setup();
  const { t, send } = await connect();
  const sub = await send({ subscribe: { channel: 'poll:a', type: SubscribeTypes.sharedPoll } });
  assert.deepEqual(sub.subscribe, { type: 4 });
  const before = t.frames.length;
  const track = await send({ sub_refresh: { channel: 'poll:a', type: 1, track: [{ signature: signed('poll:a', ['k1', 'k2']), items: [{ key: 'k1' }, { key: 'k2' }] }] } });
  assert.deepEqual(track.sub_refresh, {});
  await until(() => t.frames.length >= before + 3);
  const after = t.frames.slice(before).map((f) => JSON.parse(f));
  assert.ok(after[0].id !== undefined && after[0].sub_refresh, 'the reply comes first');
  assert.deepEqual(
    after.slice(1).map((r) => r.push),
    [
      { channel: 'poll:a', pub: { data: { k: 'k1' }, key: 'k1', version: 5 } },
      { channel: 'poll:a', pub: { data: { k: 'k2' }, key: 'k2', version: 5 } },
    ],
  );
  assert.deepEqual(requests.map((r) => r.items.map((i) => i.key)), [['k1', 'k2']]);
  const untrack = await send({ sub_refresh: { channel: 'poll:a', type: 2, untrack: ['k1', 'k2'] } });
  assert.deepEqual(untrack.sub_refresh, {});
  assert.equal(node.sharedPoll.engine.stats().keys, 0);
  await node.shutdown();
});

test('one encoding per publication and framing goes to every subscriber of the key', async () => {
  const { node, connect } = await setup();
  const a = await connect();
  const b = await connect();
  const seen: Uint8Array[][] = [[], []];
  [a, b].forEach(({ c }, i) => {
    const orig = c.enqueuePublication.bind(c);
    c.enqueuePublication = (item: Uint8Array) => {
      seen[i]!.push(item);
      orig(item);
    };
  });
  for (const x of [a, b]) await x.send({ subscribe: { channel: 'poll:s', type: SubscribeTypes.sharedPoll } });
  await a.send({ sub_refresh: { channel: 'poll:s', type: 1, track: [{ signature: signed('poll:s', ['k']), items: [{ key: 'k' }] }] } });
  await until(() => seen[0]!.length === 1);
  // The second subscriber has version 0 of a known key: the next answer is re-broadcast to it only.
  await b.send({ sub_refresh: { channel: 'poll:s', type: 1, track: [{ signature: signed('poll:s', ['k']), items: [{ key: 'k' }] }] } });
  await until(() => seen[1]!.length === 1);
  assert.equal(seen[0]!.length, 1, 'the first subscriber already had version 5');
  // A shared_poll_publish reaches both with the same bytes.
  node.sharedPoll.engine.publish('poll:s', { ...node.sharedPoll.config(node.resolver.resolve('poll:s')!.options), publishEnabled: true }, { key: 'k', version: 9, data: new TextEncoder().encode('{"v":9}') });
  assert.equal(seen[0]!.length, 2);
  assert.equal(seen[1]!.length, 2);
  assert.equal(seen[0]![1], seen[1]![1], 'the same encoded bytes object');
  await node.shutdown();
});

test('sub_refresh routing: 103 when not subscribed, track errors, token refresh on a stream subscription', async () => {
  const { node, connect } = await setup();
  const { send } = await connect();
  const notSubscribed = await send({ sub_refresh: { channel: 'poll:n', type: 1, track: [{ signature: signed('poll:n', ['k']), items: [{ key: 'k' }] }] } });
  assert.equal(notSubscribed.error.code, 103);
  await send({ subscribe: { channel: 'poll:n', type: SubscribeTypes.sharedPoll } });
  assert.equal((await send({ sub_refresh: { channel: 'poll:n', type: 1 } })).error.code, 107, 'no batches');
  assert.equal((await send({ sub_refresh: { channel: 'poll:n', type: 2 } })).error.code, 107, 'empty untrack');
  const forged = await send({ sub_refresh: { channel: 'poll:n', type: 1, track: [{ signature: signed('poll:other', ['k']), items: [{ key: 'k' }] }] } });
  assert.equal(forged.error.code, 103);
  assert.equal(node.sharedPoll.engine.stats().keys, 0);
  await send({ subscribe: { channel: 'room' } });
  // Type 1 on a stream subscription is a token refresh: without a token, 107.
  assert.equal((await send({ sub_refresh: { channel: 'room', type: 1 } })).error.code, 107);
  await node.shutdown();
});
