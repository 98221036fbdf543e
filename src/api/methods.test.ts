import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Errors, ProtocolError } from '../protocol/index.js';
import { defaultNamespaces, startTestApi, type TestApi } from './fake-node.test-helper.js';

const bytes = (s: string) => Buffer.from(s);
const text = (b: unknown) => Buffer.from(b as Uint8Array).toString();

let api: TestApi;
before(async () => {
  api = await startTestApi();
});
after(() => api.close());
beforeEach(() => {
  api.node.calls.length = 0;
  api.node.throwOn = {};
  api.node.namespaces = defaultNamespaces();
  api.logs.length = 0;
});

/** POSTs one method and returns the parsed 200 body. */
async function call(method: string, body: unknown): Promise<any> {
  const res = await api.post(`/api/${method}`, body);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.contentType, 'application/json');
  return res.json();
}

const BAD = { error: { code: 107, message: 'bad request' } };
const UNKNOWN = { error: { code: 102, message: 'unknown channel' } };
const NOT_AVAILABLE = { error: { code: 108, message: 'not available' } };

describe('publish', () => {
  it('publishes raw JSON data and returns offset and epoch', async () => {
    assert.deepEqual(await call('publish', { channel: 'chat', data: { text: 'hi', n: 1 } }), { result: { offset: 7, epoch: 'ep' } });
    const [req] = api.node.callsOf('publish') as any[];
    assert.equal(req.channel, 'chat');
    assert.equal(text(req.data), '{"text":"hi","n":1}');
  });

  it('returns {} when the channel keeps no history', async () => {
    api.node.publishResult = () => ({});
    try {
      assert.deepEqual(await call('publish', { channel: 'plain:x', data: 1 }), { result: {} });
    } finally {
      api.node.publishResult = () => ({ offset: 7, epoch: 'ep' });
    }
  });

  it('passes options through and ORs delta with delta_publish', async () => {
    await call('publish', {
      channel: 'chat',
      data: 'x',
      skip_history: true,
      tags: { a: 'b' },
      idempotency_key: 'k1',
      version: 3,
      version_epoch: 'v',
      unknown_field: 1,
    });
    await call('publish', { channel: 'delta:x', data: 'x' });
    const [first, second] = api.node.callsOf('publish') as any[];
    assert.deepEqual({ ...first, data: text(first.data) }, {
      channel: 'chat',
      data: '"x"',
      skipHistory: true,
      tags: { a: 'b' },
      idempotencyKey: 'k1',
      version: 3,
      versionEpoch: 'v',
    });
    assert.equal(second.delta, true);
  });

  it('b64data wins over data', async () => {
    await call('publish', { channel: 'bin:x', data: { a: 1 }, b64data: Buffer.from([0, 1, 255]).toString('base64') });
    const [req] = api.node.callsOf('publish') as any[];
    assert.deepEqual([...req.data], [0, 1, 255]);
  });

  it('validates the request', async () => {
    assert.deepEqual(await call('publish', { data: 1 }), BAD);
    assert.deepEqual(await call('publish', { channel: 'nope:x', data: 1 }), UNKNOWN);
    assert.deepEqual(await call('publish', { channel: 'map:x', data: 1 }), BAD);
    assert.deepEqual(await call('publish', { channel: 'chat' }), BAD, 'missing data rejected by default format');
    assert.deepEqual(await call('publish', { channel: 'chat', b64data: 'not base64!' }), BAD);
    assert.deepEqual(await call('publish', { channel: 'chat', b64data: 'YQ' }), BAD, 'unpadded base64 rejected');
    assert.deepEqual(await call('publish', { channel: 'json:x', b64data: Buffer.from('{bad').toString('base64') }), BAD);
    assert.deepEqual(await call('publish', { channel: 'obj:x', data: [1, 2] }), BAD);
    assert.deepEqual(await call('publish', { channel: 'obj:x', data: null }), BAD);
    assert.equal(api.node.callsOf('publish').length, 0);
  });

  it('accepts data per publication_data_format', async () => {
    assert.ok((await call('publish', { channel: 'bin:x' })).result, 'binary allows empty data');
    assert.ok((await call('publish', { channel: 'json:x', data: [1] })).result);
    assert.ok((await call('publish', { channel: 'json:x', b64data: Buffer.from(' {"a":1} ').toString('base64') })).result);
    assert.ok((await call('publish', { channel: 'obj:x', data: { a: 1 } })).result);
    assert.ok((await call('publish', { channel: 'chat', data: null })).result, 'null is data');
  });

  it('maps node errors', async () => {
    api.node.throwOn['publish'] = new ProtocolError(108, 'whatever');
    assert.deepEqual(await call('publish', { channel: 'chat', data: 1 }), NOT_AVAILABLE);
    assert.equal(api.logs.length, 0);
    api.node.throwOn['publish'] = new Error('broker down');
    assert.deepEqual(await call('publish', { channel: 'chat', data: 1 }), { error: { code: 100, message: 'internal server error' } });
    assert.equal(api.logs.length, 1);
    assert.equal(api.logs[0]?.level, 'error');
    // The client table's 104 ("method not found") is not an API error: internal.
    api.node.throwOn['publish'] = Errors.methodNotFound;
    assert.deepEqual((await call('publish', { channel: 'chat', data: 1 })).error.code, 100);
  });
});

describe('broadcast', () => {
  it('publishes to every channel and answers per channel in order', async () => {
    const res = await call('broadcast', { channels: ['a', '', 'nope:x', 'map:y', 'obj:z'], data: { x: 1 } });
    assert.deepEqual(res, {
      result: {
        responses: [
          { result: { offset: 7, epoch: 'ep' } },
          { error: { code: 107, message: 'bad request' } },
          { error: { code: 102, message: 'unknown channel' } },
          { result: { offset: 7, epoch: 'ep' } },
          { result: { offset: 7, epoch: 'ep' } },
        ],
      },
    });
    assert.deepEqual((api.node.callsOf('publish') as any[]).map((r) => r.channel).sort(), ['a', 'map:y', 'obj:z']);
  });

  it('validates data per channel namespace', async () => {
    const res = await call('broadcast', { channels: ['obj:a', 'json:b'], data: [1] });
    assert.deepEqual(res.result.responses, [{ error: { code: 107, message: 'bad request' } }, { result: { offset: 7, epoch: 'ep' } }]);
  });

  it('rejects empty channels and bad base64 as a whole', async () => {
    assert.deepEqual(await call('broadcast', { data: 1 }), BAD);
    assert.deepEqual(await call('broadcast', { channels: [], data: 1 }), BAD);
    assert.deepEqual(await call('broadcast', { channels: ['a'], b64data: '%%%' }), BAD);
  });

  it('keeps node failures per channel', async () => {
    api.node.throwOn['publish'] = new Error('boom');
    const res = await call('broadcast', { channels: ['a', 'b'], data: 1 });
    assert.deepEqual(res.result.responses, [
      { error: { code: 100, message: 'internal server error' } },
      { error: { code: 100, message: 'internal server error' } },
    ]);
    // The same failure twice within the log window is logged once.
    assert.equal(api.logs.length, 1);
  });
});

describe('subscribe', () => {
  it('maps the request onto the node', async () => {
    const res = await call('subscribe', {
      user: 'u1',
      channel: 'chat',
      client: 'c1',
      session: 's1',
      expire_at: 1700000000,
      info: { role: 'x' },
      b64data: Buffer.from('bin').toString('base64'),
      recover_since: { offset: 5, epoch: 'e' },
      override: { presence: { value: false }, join_leave: { value: true }, force_recovery: null },
      label_filter: { ignored: true },
    });
    assert.deepEqual(res, { result: {} });
    const [req] = api.node.callsOf('subscribe') as any[];
    assert.deepEqual({ ...req, info: text(req.info), data: text(req.data) }, {
      user: 'u1',
      channel: 'chat',
      client: 'c1',
      session: 's1',
      expireAt: 1700000000,
      info: '{"role":"x"}',
      data: 'bin',
      recoverSince: { offset: 5, epoch: 'e' },
      override: { presence: false, join_leave: true },
    });
  });

  it('requires a channel of a known namespace', async () => {
    assert.deepEqual(await call('subscribe', { user: 'u' }), BAD);
    assert.deepEqual(await call('subscribe', { user: 'u', channel: 'nope:x' }), UNKNOWN);
    assert.deepEqual(await call('subscribe', { user: 'u', channel: 'chat', b64info: '!' }), BAD);
    assert.equal(api.node.callsOf('subscribe').length, 0);
  });
});

describe('unsubscribe, disconnect, refresh', () => {
  it('unsubscribe passes the selector; empty channel allowed, unknown namespace 102', async () => {
    assert.deepEqual(await call('unsubscribe', { user: 'u', channel: 'chat', client: 'c', session: 's' }), { result: {} });
    assert.deepEqual(await call('unsubscribe', { user: 'u' }), { result: {} });
    assert.deepEqual(await call('unsubscribe', { user: 'u', channel: 'nope:x' }), UNKNOWN);
    assert.deepEqual(api.node.callsOf('unsubscribe'), [
      { user: 'u', channel: 'chat', client: 'c', session: 's' },
      { user: 'u', channel: '' },
    ]);
  });

  it('disconnect defaults to 3503 force disconnect', async () => {
    assert.deepEqual(await call('disconnect', { user: 'u' }), { result: {} });
    assert.deepEqual(await call('disconnect', { user: 'u', client: 'c', session: 's', whitelist: ['w1'], disconnect: { code: 4000, reason: 'bye' } }), {
      result: {},
    });
    assert.deepEqual(api.node.callsOf('disconnect'), [
      { user: 'u', code: 3503, reason: 'force disconnect' },
      { user: 'u', client: 'c', session: 's', whitelist: ['w1'], code: 4000, reason: 'bye' },
    ]);
  });

  it('refresh passes expiry and info', async () => {
    assert.deepEqual(await call('refresh', { user: 'u', client: 'c', expired: true, expire_at: 99, info: [1] }), { result: {} });
    const [req] = api.node.callsOf('refresh') as any[];
    assert.deepEqual({ ...req, info: text(req.info) }, { user: 'u', client: 'c', expired: true, expireAt: 99, info: '[1]' });
  });
});

describe('presence and presence_stats', () => {
  it('presence embeds infos raw, user and client always written', async () => {
    api.node.presenceData = {
      c1: { user: 'u1', client: 'c1', conn_info: bytes('{ "name" : "A" }'), chan_info: bytes('[1, 2]') },
      c2: { user: '', client: 'c2', conn_info: new Uint8Array([0xff, 0x00]) },
    };
    const res = await api.post('/api/presence', { channel: 'chat' });
    assert.equal(
      res.text,
      '{"result":{"presence":{"c1":{"user":"u1","client":"c1","conn_info":{"name":"A"},"chan_info":[1,2]},"c2":{"user":"","client":"c2"}}}}',
    );
  });

  it('presence needs the namespace presence option', async () => {
    assert.deepEqual(await call('presence', {}), BAD);
    assert.deepEqual(await call('presence', { channel: 'nope:x' }), UNKNOWN);
    assert.deepEqual(await call('presence', { channel: 'plain:x' }), NOT_AVAILABLE);
    assert.deepEqual(await call('presence_stats', { channel: 'plain:x' }), NOT_AVAILABLE);
  });

  it('presence_stats writes both counters, zeros included', async () => {
    api.node.statsData = { num_clients: 0, num_users: 0 };
    assert.deepEqual(await call('presence_stats', { channel: 'chat' }), { result: { num_clients: 0, num_users: 0 } });
    api.node.statsData = { num_clients: 3, num_users: 2 };
    assert.deepEqual(await call('presence_stats', { channel: 'chat' }), { result: { num_clients: 3, num_users: 2 } });
  });
});

describe('history and history_remove', () => {
  it('returns publications with raw data, position always written', async () => {
    api.node.historyData = {
      publications: [
        { data: bytes('{"big": 12345678901234567890, "f": 1.50}'), offset: 1, time: 0, tags: { t: '1' } },
        { data: new Uint8Array([0xff, 0xfe]), offset: 2, time: 0, info: { user: 'u', client: 'c' }, tags: {} },
        { data: new Uint8Array(0), offset: 3, time: 0 },
      ],
      offset: 3,
      epoch: 'abc',
    };
    const res = await api.post('/api/history', { channel: 'chat', limit: -1, since: { offset: 0, epoch: 'abc' }, reverse: true });
    assert.equal(
      res.text,
      '{"result":{"publications":[{"data":{"big":12345678901234567890,"f":1.50},"offset":1,"tags":{"t":"1"}},' +
        '{"b64data":"//4=","info":{"user":"u","client":"c"},"offset":2},{"offset":3}],"epoch":"abc","offset":3}}',
    );
    assert.deepEqual(api.node.callsOf('history'), [{ channel: 'chat', limit: -1, since: { offset: 0, epoch: 'abc' }, reverse: true }]);
  });

  it('empty history still writes publications, epoch and offset', async () => {
    api.node.historyData = { publications: [], offset: 0, epoch: '' };
    assert.deepEqual(await call('history', { channel: 'chat' }), { result: { publications: [], epoch: '', offset: 0 } });
    assert.deepEqual(api.node.callsOf('history'), [{ channel: 'chat', limit: 0 }]);
  });

  it('checks channel, namespace and history options', async () => {
    api.node.namespaces['half'] = { history_size: 10 };
    assert.deepEqual(await call('history', {}), BAD);
    assert.deepEqual(await call('history', { channel: 'nope:x' }), UNKNOWN);
    assert.deepEqual(await call('history', { channel: 'plain:x' }), NOT_AVAILABLE);
    assert.deepEqual(await call('history', { channel: 'half:x' }), NOT_AVAILABLE);
    assert.deepEqual(await call('history_remove', { channel: 'plain:x' }), NOT_AVAILABLE);
    assert.deepEqual(await call('history_remove', {}), BAD);
  });

  it('maps an epoch mismatch from the node to 112', async () => {
    api.node.throwOn['history'] = Errors.unrecoverablePosition;
    assert.deepEqual(await call('history', { channel: 'chat', since: { offset: 1, epoch: 'old' } }), {
      error: { code: 112, message: 'unrecoverable position' },
    });
  });

  it('history_remove removes', async () => {
    assert.deepEqual(await call('history_remove', { channel: 'chat' }), { result: {} });
    assert.deepEqual(api.node.callsOf('historyRemove'), ['chat']);
  });
});

describe('shared_poll_publish', () => {
  it('requires channel, key and a positive version, then hands the publication to the node', async () => {
    assert.deepEqual(await call('shared_poll_publish', { key: 'k', version: 1 }), BAD);
    assert.deepEqual(await call('shared_poll_publish', { channel: 'chat', version: 1 }), BAD);
    assert.deepEqual(await call('shared_poll_publish', { channel: 'chat', key: 'k' }), BAD);
    assert.deepEqual(await call('shared_poll_publish', { channel: 'chat', key: 'k', version: 2, b64data: '!' }), BAD);
    assert.deepEqual(api.node.callsOf('sharedPollPublish'), []);
    assert.deepEqual(await call('shared_poll_publish', { channel: 'chat', key: 'k', version: 2, data: { v: 1 }, epoch: 'e1' }), { result: {} });
    assert.deepEqual(await call('shared_poll_publish', { channel: 'chat', key: 'k', version: 3, b64data: 'AQI=' }), { result: {} });
    const calls = api.node.callsOf('sharedPollPublish') as { channel: string; key: string; version: number; data: Uint8Array; epoch: string }[];
    assert.deepEqual(
      calls.map((c) => ({ ...c, data: Buffer.from(c.data).toString('hex') })),
      [
        { channel: 'chat', key: 'k', version: 2, data: Buffer.from('{"v":1}').toString('hex'), epoch: 'e1' },
        { channel: 'chat', key: 'k', version: 3, data: '0102', epoch: '' },
      ],
    );
  });
});

describe('channels, info, rpc', () => {
  it('channels lists active channels, filtered by glob', async () => {
    api.node.channelsData = {
      'news:sport': { num_clients: 2 },
      'news:a/b': { num_clients: 1 },
      chat: { num_clients: 5 },
      'news:idle': { num_clients: 0 },
      b1: { num_clients: 1 },
    };
    assert.deepEqual(await call('channels', {}), {
      result: { channels: { 'news:sport': { num_clients: 2 }, 'news:a/b': { num_clients: 1 }, chat: { num_clients: 5 }, b1: { num_clients: 1 } } },
    });
    const names = async (pattern: string) => Object.keys((await call('channels', { pattern })).result.channels).sort();
    assert.deepEqual(await names('news:*'), ['news:a/b', 'news:sport']);
    assert.deepEqual(await names('*'), ['b1', 'chat', 'news:a/b', 'news:sport']);
    assert.deepEqual(await names('*s*'), ['news:a/b', 'news:sport']);
    assert.deepEqual(await names('news:?/?'), ['news:a/b']);
    assert.deepEqual(await names('{chat,b1}'), ['b1', 'chat']);
    assert.deepEqual(await names('[!c]?'), ['b1']);
    assert.deepEqual(await names('ch[a-z]t'), ['chat']);
    assert.deepEqual(await names('nothing'), []);
  });

  it('keeps `__proto__` as an ordinary channel name and tag key', async () => {
    api.node.channelsData = JSON.parse('{"__proto__":{"num_clients":1}}');
    const res = await api.post('/api/channels', {});
    assert.equal(res.text, '{"result":{"channels":{"__proto__":{"num_clients":1}}}}');
    await api.post('/api/publish', '{"channel":"chat","data":1,"tags":{"__proto__":"x"}}');
    const [req] = api.node.callsOf('publish') as any[];
    assert.deepEqual(Object.keys(req.tags), ['__proto__']);
  });

  it('info writes node counters, uptime omitted when 0', async () => {
    api.node.nodes = [
      { uid: 'n1', name: 'one', version: '6.0.0 OSS', num_clients: 0, num_users: 0, num_channels: 0, num_subs: 0, uptime: 0 },
      { uid: 'n2', name: 'two', version: '6.0.0 OSS', num_clients: 1, num_users: 1, num_channels: 2, num_subs: 3, uptime: 10 },
    ];
    assert.deepEqual(await call('info', {}), {
      result: {
        nodes: [
          { uid: 'n1', name: 'one', version: '6.0.0 OSS', num_clients: 0, num_users: 0, num_channels: 0, num_subs: 0 },
          { uid: 'n2', name: 'two', version: '6.0.0 OSS', num_clients: 1, num_users: 1, num_channels: 2, uptime: 10, num_subs: 3 },
        ],
      },
    });
  });

  it('rpc: empty method 107, any other 104 not found', async () => {
    assert.deepEqual(await call('rpc', { params: {} }), BAD);
    assert.deepEqual(await call('rpc', { method: 'sum', params: [1, 2] }), { error: { code: 104, message: 'not found' } });
  });
});

describe('executor', () => {
  it('execute answers 104 for unknown methods and 107 for bodies of the wrong shape', async () => {
    api.node.nodes = [];
    assert.deepEqual(await api.exec.execute('connections', {}), { error: { code: 104, message: 'not found' } });
    assert.deepEqual(await api.exec.execute('publish', { channel: 5 }), BAD);
    assert.deepEqual(await api.exec.execute('publish', 'text'), BAD);
    assert.deepEqual(await api.exec.execute('info', null), { result: { nodes: [] } });
  });

  it('lists its methods', () => {
    assert.deepEqual(api.exec.methods.sort(), [
      'batch',
      'broadcast',
      'channels',
      'disconnect',
      'history',
      'history_remove',
      'info',
      'map_clear',
      'map_publish',
      'map_read_state',
      'map_read_stream',
      'map_remove',
      'map_stats',
      'presence',
      'presence_stats',
      'publish',
      'refresh',
      'rpc',
      'shared_poll_publish',
      'subscribe',
      'unsubscribe',
    ]);
  });
});
