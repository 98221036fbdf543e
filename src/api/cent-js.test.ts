/**
 * Compatibility with the `cent.js` API client (v6): every method it exposes, and its
 * pipeline(), against the HTTP handler over a fake node. cent.js has no batch or rpc methods.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import centPkg from 'cent.js';
import { defaultNamespaces, startTestApi, TEST_KEY, type TestApi } from './fake-node.test-helper.js';

const { CentClient, CentMethods, CentException } = centPkg;

let api: TestApi;
let cent: InstanceType<typeof CentClient>;
before(async () => {
  api = await startTestApi();
  cent = new CentClient({ url: `${api.base}/api`, apiKey: TEST_KEY });
});
after(() => api.close());
beforeEach(() => {
  api.node.calls.length = 0;
  api.node.namespaces = defaultNamespaces();
  api.node.channelsData = {};
  api.node.nodes = [];
  api.node.statsData = { num_clients: 1, num_users: 1 };
});

describe('cent.js client', () => {
  it('publish and broadcast', async () => {
    assert.deepEqual(await cent.publish({ channel: 'chat', data: { text: 'hi' }, tags: { k: 'v' } }), { offset: 7, epoch: 'ep' });
    const bc = await cent.broadcast({ channels: ['a', 'b'], data: { text: 'all' } });
    assert.deepEqual(bc, { responses: [{ result: { offset: 7, epoch: 'ep' } }, { result: { offset: 7, epoch: 'ep' } }] } as unknown);
    const sent = (api.node.callsOf('publish') as any[]).map((r) => [r.channel, Buffer.from(r.data).toString()]);
    assert.deepEqual(sent, [
      ['chat', '{"text":"hi"}'],
      ['a', '{"text":"all"}'],
      ['b', '{"text":"all"}'],
    ]);
  });

  it('surfaces API errors as CentException', async () => {
    await assert.rejects(cent.publish({ channel: 'nope:x', data: {} }), CentException);
    await assert.rejects(cent.getPresence({ channel: 'plain:x' }), CentException);
  });

  it('subscribe, unsubscribe, disconnect, refresh', async () => {
    assert.deepEqual(await cent.subscribe({ user: 'u', channel: 'chat', client: 'c' }), {});
    assert.deepEqual(await cent.unsubscribe({ user: 'u', channel: 'chat' }), {});
    assert.deepEqual(await cent.disconnect({ user: 'u' }), {});
    assert.deepEqual(await cent.refresh({ user: 'u', client: 'c' }), {});
    assert.deepEqual(
      api.node.calls.map((c) => [c.method, c.arg]),
      [
        ['subscribe', { user: 'u', channel: 'chat', client: 'c' }],
        ['unsubscribe', { user: 'u', channel: 'chat' }],
        ['disconnect', { user: 'u', code: 3503, reason: 'force disconnect' }],
        ['refresh', { user: 'u', client: 'c' }],
      ],
    );
  });

  it('presence, presence stats, history, history remove', async () => {
    api.node.presenceData = { c1: { user: 'u1', client: 'c1', conn_info: Buffer.from('{"n":1}') } };
    api.node.statsData = { num_clients: 1, num_users: 1 };
    api.node.historyData = { publications: [{ data: Buffer.from('{"m":1}'), offset: 1, time: 0 }], offset: 1, epoch: 'e' };
    assert.deepEqual(await cent.getPresence({ channel: 'chat' }), { presence: { c1: { user: 'u1', client: 'c1', conn_info: { n: 1 } } } });
    assert.deepEqual(await cent.getPresenceStats({ channel: 'chat' }), { num_clients: 1, num_users: 1 });
    assert.deepEqual(await cent.getHistory({ channel: 'chat', limit: 10, since: { offset: 0, epoch: 'e' }, reverse: false }), {
      publications: [{ data: { m: 1 }, offset: 1 }],
      epoch: 'e',
      offset: 1,
    });
    assert.deepEqual(await cent.removeHistory({ channel: 'chat' }), {});
    assert.deepEqual(api.node.callsOf('history'), [{ channel: 'chat', limit: 10, since: { offset: 0, epoch: 'e' } }]);
  });

  it('channels and info', async () => {
    api.node.channelsData = { 'news:1': { num_clients: 2 }, chat: { num_clients: 1 } };
    api.node.nodes = [{ uid: 'n', name: 'gyre', version: '6.0.0 OSS', num_clients: 1, num_users: 1, num_channels: 1, num_subs: 1, uptime: 5 }];
    assert.deepEqual(await cent.getChannels({ pattern: 'news:*' }), { channels: { 'news:1': { num_clients: 2 } } });
    assert.deepEqual(await cent.getChannels(), { channels: { 'news:1': { num_clients: 2 }, chat: { num_clients: 1 } } });
    const info = await cent.getInfo();
    assert.equal(info.nodes[0]?.uid, 'n');
    assert.equal(info.nodes[0]?.uptime, 5);
  });

  it('pipeline posts legacy commands to the base URL', async () => {
    const results = await cent.pipeline([
      { method: CentMethods.Publish, params: { channel: 'chat', data: { p: 1 } } },
      { method: CentMethods.PresenceStats, params: { channel: 'chat' } },
      { method: CentMethods.Channels, params: { pattern: '' } },
      { method: CentMethods.Info, params: {} },
      { method: CentMethods.HistoryRemove, params: { channel: 'chat' } },
    ] as any);
    assert.deepEqual(results, [{ offset: 7, epoch: 'ep' }, { num_clients: 1, num_users: 1 }, { channels: {} }, { nodes: [] }, {}]);
  });

  it('wrong key is refused', async () => {
    const bad = new CentClient({ url: `${api.base}/api`, apiKey: 'wrong' });
    await assert.rejects(bad.getInfo());
  });
});
