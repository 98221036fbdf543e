import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import net from 'node:net';
import { Errors } from '../protocol/index.js';
import { defaultNamespaces, startTestApi, TEST_KEY, type TestApi } from './fake-node.test-helper.js';

let api: TestApi;
before(async () => {
  api = await startTestApi();
});
after(() => api.close());
beforeEach(() => {
  api.node.calls.length = 0;
  api.node.throwOn = {};
  api.node.namespaces = defaultNamespaces();
  api.node.publishDelayMs = 0;
  api.node.maxInFlight = 0;
});

const INFO_OK = '{"result":{"nodes":[]}}';

describe('routing', () => {
  it('leaves paths outside the prefix to the caller', async () => {
    assert.equal((await api.post('/apix/info', {})).status, 418);
    assert.equal((await api.post('/other', {})).status, 418);
    assert.equal((await api.request('GET', '/')).status, 418);
  });

  it('answers 404 text for unknown methods, PRO methods and nested paths', async () => {
    for (const path of ['/api/nope', '/api/connections', '/api/', '/api/publish/x']) {
      const res = await api.post(path, {});
      assert.equal(res.status, 404, path);
      assert.match(res.contentType ?? '', /^text\/plain/);
      assert.equal(res.text, '404 page not found\n');
    }
  });

  it('answers 405 with an empty body to anything but POST', async () => {
    for (const [method, path] of [
      ['GET', '/api/info'],
      ['PUT', '/api/publish'],
      ['GET', '/api'],
      ['DELETE', '/api/batch'],
    ] as const) {
      const res = await api.request(method, path, undefined, { 'X-API-Key': TEST_KEY });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.text, '');
    }
  });

  it('answers 400 Bad Request to bodies that are not the request type', async () => {
    for (const body of ['{', '', '[]', '"x"', '{"channel": 5}', '{"data": 1} {"data": 2}']) {
      const res = await api.post('/api/publish', body);
      assert.equal(res.status, 400, body);
      assert.equal(res.text, 'Bad Request\n');
    }
    assert.equal((await api.post('/api/history', { channel: 'chat', limit: 1.5 })).status, 400);
    assert.equal((await api.post('/api/history', { channel: 'chat', since: 'x' })).status, 400);
    assert.equal((await api.post('/api/broadcast', { channels: 'a' })).status, 400);
    assert.equal((await api.post('/api/disconnect', { user: 'u', disconnect: { code: -1 } })).status, 400);
  });

  it('treats a null body as an empty request', async () => {
    const res = await api.post('/api/info', 'null');
    assert.equal(res.status, 200);
    assert.equal(res.text, INFO_OK);
  });

  it('answers 413 to bodies over the limit', async () => {
    const small = await startTestApi({ maxBodyBytes: 64 });
    try {
      const big = JSON.stringify({ channel: 'chat', data: 'x'.repeat(200) });
      assert.equal((await small.post('/api/publish', big)).status, 413);
      assert.equal((await small.post('/api/publish', { channel: 'chat', data: 1 })).status, 200);
      // Chunked, without content-length.
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(small.base + '/api/publish', { method: 'POST', headers: { 'X-API-Key': TEST_KEY } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('{"channel":"chat","data":"');
        req.write('y'.repeat(100));
        req.end('"}');
      });
      assert.equal(status, 413);
    } finally {
      await small.close();
    }
  });

  it('honours a custom prefix with a trailing slash', async () => {
    const custom = await startTestApi({ prefix: '/srv/api/' });
    try {
      assert.equal((await custom.post('/srv/api/info', {})).text, INFO_OK);
      assert.equal((await custom.post('/srv/api', '{"method":"info"}')).text, INFO_OK);
      assert.equal((await custom.post('/api/info', {})).status, 418);
    } finally {
      await custom.close();
    }
  });

  it('with an empty prefix owns only its own paths', async () => {
    const root = await startTestApi({ prefix: '/' });
    try {
      assert.equal((await root.post('/info', {})).text, INFO_OK);
      assert.equal((await root.post('/', '{"method":"info"}')).text, INFO_OK);
      assert.equal((await root.post('/connection/websocket', {})).status, 418);
    } finally {
      await root.close();
    }
  });
});

describe('auth', () => {
  const ok = async (headers: Record<string, string>, query = '') => {
    const res = await api.post('/api/info' + query, {}, headers);
    return res.status === 200 ? 200 : res.status;
  };

  it('accepts the key in X-API-Key, Authorization: apikey, or api_key query', async () => {
    assert.equal(await ok({ 'X-API-Key': TEST_KEY }), 200);
    assert.equal(await ok({ Authorization: `apikey ${TEST_KEY}` }), 200);
    assert.equal(await ok({ Authorization: `APIKEY ${TEST_KEY}` }), 200);
    assert.equal(await ok({ Authorization: `ApiKey   ${TEST_KEY}` }), 200);
    assert.equal(await ok({}, `?api_key=${TEST_KEY}`), 200);
    assert.equal(await ok({}, `?x=1&api_key=${encodeURIComponent(TEST_KEY)}`), 200);
  });

  it('rejects wrong or missing keys with 401 and an empty body', async () => {
    for (const [headers, query] of [
      [{}, ''],
      [{ 'X-API-Key': 'wrong' }, ''],
      [{ 'X-API-Key': TEST_KEY + 'x' }, ''],
      [{ Authorization: `Bearer ${TEST_KEY}` }, ''],
      [{ Authorization: `apikey ${TEST_KEY} extra` }, ''],
      [{ Authorization: TEST_KEY }, ''],
      [{}, '?api_key=wrong'],
      [{}, '?apikey=' + TEST_KEY],
    ] as const) {
      const res = await api.post('/api/info' + query, {}, headers);
      assert.equal(res.status, 401, JSON.stringify([headers, query]));
      assert.equal(res.text, '');
    }
    const legacy = await api.post('/api', '{"method":"info"}', {});
    assert.equal(legacy.status, 401);
  });

  it('falls back to the query parameter when a header key is wrong', async () => {
    assert.equal(await ok({ 'X-API-Key': 'wrong' }, `?api_key=${TEST_KEY}`), 200);
  });

  it('an empty configured key rejects everything unless insecure', async () => {
    const empty = await startTestApi({ key: '' });
    const insecure = await startTestApi({ key: '', insecure: true });
    try {
      assert.equal((await empty.post('/api/info', {}, {})).status, 401);
      assert.equal((await empty.post('/api/info', {}, { 'X-API-Key': '' })).status, 401);
      assert.equal((await empty.post('/api/info?api_key=', {}, { Authorization: 'apikey ' })).status, 401);
      assert.equal((await insecure.post('/api/info', {}, {})).text, INFO_OK);
      assert.equal((await insecure.post('/api', '{"method":"info"}', {})).text, INFO_OK);
    } finally {
      await empty.close();
      await insecure.close();
    }
  });

  it('checks the method before the key (405 beats 401)', async () => {
    assert.equal((await api.request('GET', '/api/info')).status, 405);
  });
});

describe('error modes', () => {
  const transport = { 'X-API-Key': TEST_KEY, 'X-Centrifugo-Error-Mode': 'transport' };

  it('default mode answers 200 with an error envelope', async () => {
    const res = await api.post('/api/publish', { channel: 'nope:x', data: 1 });
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"error":{"code":102,"message":"unknown channel"}}');
  });

  it('transport mode by header maps error codes to HTTP statuses with a bare error body', async () => {
    const cases: Array<[string, unknown, number, string]> = [
      ['publish', { channel: 'nope:x', data: 1 }, 404, '{"code":102,"message":"unknown channel"}'],
      ['publish', { data: 1 }, 400, '{"code":107,"message":"bad request"}'],
      ['presence', { channel: 'plain:x' }, 400, '{"code":108,"message":"not available"}'],
      ['rpc', { method: 'x' }, 404, '{"code":104,"message":"not found"}'],
    ];
    for (const [method, body, status, text] of cases) {
      const res = await api.post(`/api/${method}`, body, transport);
      assert.equal(res.status, status, method);
      assert.equal(res.contentType, 'application/json');
      assert.equal(res.text, text);
    }
    api.node.throwOn['history'] = Errors.unrecoverablePosition;
    assert.equal((await api.post('/api/history', { channel: 'chat' }, transport)).status, 416);
    api.node.throwOn['history'] = new Error('down');
    const res = await api.post('/api/history', { channel: 'chat' }, transport);
    assert.equal(res.status, 500);
    assert.equal(res.text, '{"code":100,"message":"internal server error"}');
  });

  it('transport mode leaves successes, batch and broadcast entries alone', async () => {
    assert.equal((await api.post('/api/info', {}, transport)).text, INFO_OK);
    const batch = await api.post('/api/batch', { commands: [{ publish: { channel: 'nope:x', data: 1 } }] }, transport);
    assert.equal(batch.status, 200);
    assert.equal(batch.text, '{"replies":[{"error":{"code":102,"message":"unknown channel"}}]}');
    const bc = await api.post('/api/broadcast', { channels: ['nope:x'], data: 1 }, transport);
    assert.equal(bc.status, 200);
    assert.equal(bc.text, '{"result":{"responses":[{"error":{"code":102,"message":"unknown channel"}}]}}');
    const legacy = await api.post('/api', '{"method":"publish","params":{"channel":"nope:x","data":1}}', transport);
    assert.equal(legacy.status, 200);
  });

  it('transport mode can be global', async () => {
    const global = await startTestApi({ errorMode: 'transport' });
    try {
      const res = await global.post('/api/publish', { data: 1 });
      assert.equal(res.status, 400);
      assert.equal(res.text, '{"code":107,"message":"bad request"}');
    } finally {
      await global.close();
    }
  });
});

describe('batch', () => {
  it('runs commands in order and answers per command', async () => {
    const res = await api.post('/api/batch', {
      commands: [
        { publish: { channel: 'a', data: 1 } },
        { presence_stats: { channel: 'chat' } },
        null,
        { whatever: {} },
        { publish: null, info: {} },
        { rpc: { method: 'm' } },
        { batch: { commands: [] } },
        { history: { channel: 'plain:x' } },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), {
      replies: [
        { publish: { offset: 7, epoch: 'ep' } },
        { presence_stats: { num_clients: 0, num_users: 0 } },
        { error: { code: 107, message: 'bad request' } },
        { error: { code: 104, message: 'not found' } },
        { info: { nodes: [] } },
        { error: { code: 104, message: 'not found' } },
        { error: { code: 104, message: 'not found' } },
        { error: { code: 108, message: 'not available' } },
      ],
    });
  });

  it('sequential batches run one command at a time, parallel ones concurrently', async () => {
    api.node.publishDelayMs = 20;
    const commands = Array.from({ length: 5 }, (_, i) => ({ publish: { channel: `c${i}`, data: i } }));
    const seq = await api.post('/api/batch', { commands });
    assert.equal(seq.json().replies.length, 5);
    assert.equal(api.node.maxInFlight, 1);
    assert.deepEqual((api.node.callsOf('publish') as any[]).map((r) => r.channel), ['c0', 'c1', 'c2', 'c3', 'c4']);
    api.node.maxInFlight = 0;
    const par = await api.post('/api/batch', { commands, parallel: true });
    assert.deepEqual(par.json().replies, Array(5).fill({ publish: { offset: 7, epoch: 'ep' } }));
    assert.equal(api.node.maxInFlight, 5);
  });

  it('empty or missing commands give empty replies', async () => {
    assert.equal((await api.post('/api/batch', {})).text, '{"replies":[]}');
    assert.equal((await api.post('/api/batch', { commands: [] })).text, '{"replies":[]}');
  });

  it('a command body of the wrong shape fails the whole batch with 400', async () => {
    assert.equal((await api.post('/api/batch', { commands: [{ publish: { channel: 1 } }] })).status, 400);
    assert.equal((await api.post('/api/batch', { commands: [5] })).status, 400);
    assert.equal((await api.post('/api/batch', { commands: {} })).status, 400);
    assert.equal((await api.post('/api/batch', { commands: [{ publish: [] }] })).status, 400);
  });

  it('embeds raw data in batch replies', async () => {
    api.node.historyData = { publications: [{ data: Buffer.from('{"a": [1, 2]}'), offset: 4, time: 0 }], offset: 4, epoch: 'e' };
    const res = await api.post('/api/batch', { commands: [{ history: { channel: 'chat', limit: 1 } }] });
    assert.equal(res.text, '{"replies":[{"history":{"publications":[{"data":{"a":[1,2]},"offset":4}],"epoch":"e","offset":4}}]}');
  });
});

describe('legacy route', () => {
  it('runs newline-separated commands and joins replies with newlines', async () => {
    const body = [
      '{"id":1,"method":"publish","params":{"channel":"a","data":{"x":1}}}',
      '{"id":2,"method":"PRESENCE_STATS","params":{"channel":"chat"}}',
      '{"method":"info","params":{}}',
      '{"id":4,"method":"nope","params":{}}',
      '{"id":5,"method":"publish","params":{"channel":7}}',
      '{"id":6,"method":"publish","params":{"channel":"nope:x","data":1}}',
    ].join('\n');
    const res = await api.post('/api', body);
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'application/json');
    assert.equal(
      res.text,
      [
        '{"id":1,"result":{"offset":7,"epoch":"ep"}}',
        '{"id":2,"result":{"num_clients":0,"num_users":0}}',
        '{"result":{"nodes":[]}}',
        '{"id":4,"error":{"code":104,"message":"not found"}}',
        '{"id":5,"error":{"code":107,"message":"bad request"}}',
        '{"id":6,"error":{"code":102,"message":"unknown channel"}}',
      ].join('\n'),
    );
  });

  it('accepts numeric methods, any whitespace between objects and none at all', async () => {
    const body =
      '{"id":1,"method":0,"params":{"channel":"a","data":1}}  \t{"id":2,"method":9}\r\n\n' +
      '{"id":3,"method":8,"params":{}}{"id":4,"method":5,"params":{"channel":"chat"}}{"id":5,"method":13}{"id":6,"method":40,"params":{}}' +
      '{"id":7,"method":2,"params":{"user":"u","channel":"chat"}}{"id":8,"method":"BaTcH","params":{}}';
    const res = await api.post('/api', body);
    const lines = res.text.split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { id: 1, result: { offset: 7, epoch: 'ep' } },
      { id: 2, result: { nodes: [] } },
      { id: 3, result: { channels: {} } },
      { id: 4, result: { num_clients: 0, num_users: 0 } },
      { id: 5, error: { code: 104, message: 'not found' } },
      { id: 6, error: { code: 104, message: 'not found' } },
      { id: 7, result: {} },
      { id: 8, error: { code: 104, message: 'not found' } },
    ]);
    assert.deepEqual(api.node.callsOf('unsubscribe'), [{ user: 'u', channel: 'chat' }]);
  });

  it('covers every numeric method of the enum', async () => {
    const params: Record<number, object> = {
      0: { channel: 'a', data: 1 },
      1: { channels: ['a'], data: 1 },
      2: { user: 'u' },
      3: { user: 'u' },
      4: { channel: 'chat' },
      5: { channel: 'chat' },
      6: { channel: 'chat' },
      7: { channel: 'chat' },
      8: {},
      9: {},
      10: { method: 'x' },
      11: { user: 'u', channel: 'chat' },
      12: { user: 'u' },
    };
    const body = Object.entries(params)
      .map(([m, p]) => JSON.stringify({ id: Number(m) + 1, method: Number(m), params: p }))
      .join('\n');
    const lines = (await api.post('/api', body)).text.split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 13);
    for (const line of lines) {
      if (line.id === 11) assert.deepEqual(line.error, { code: 104, message: 'not found' });
      else assert.ok(line.result, JSON.stringify(line));
    }
    assert.deepEqual(
      api.node.calls.map((c) => c.method),
      ['publish', 'publish', 'unsubscribe', 'disconnect', 'presence', 'presenceStats', 'history', 'historyRemove', 'channels', 'info', 'subscribe', 'refresh'],
    );
  });

  it('answers 400 to an empty body or an undecodable stream, before running anything', async () => {
    for (const body of ['', '{"id":1,"method":"info"}\n{broken', '[1]', '{"id":"1","method":"info"}', '{"id":-1}', '{"method":true}', '{"method":1.5}']) {
      const res = await api.post('/api', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.text, 'Bad Request\n');
    }
    assert.equal(api.node.calls.length, 0);
  });

  it('treats absent params as {} and whitespace-only bodies as no commands', async () => {
    assert.equal((await api.post('/api', '{"id":1,"method":"channels"}')).text, '{"id":1,"result":{"channels":{}}}');
    const ws = await api.post('/api', ' \n ');
    assert.equal(ws.status, 200);
    assert.equal(ws.text, '');
  });

  it('answers 503 while the node shuts down', async () => {
    const stopping = await startTestApi({ shuttingDown: () => true });
    try {
      assert.equal((await stopping.post('/api', '{"method":"info"}')).status, 503);
      assert.equal((await stopping.post('/api/info', {})).status, 200);
    } finally {
      await stopping.close();
    }
  });

  it('old clients: {method, params} with Authorization: apikey', async () => {
    const res = await api.post('/api', JSON.stringify({ method: 'publish', params: { channel: 'a', data: { v: 1 } } }), {
      Authorization: `apikey ${TEST_KEY}`,
      'Content-Type': 'application/json',
    });
    assert.equal(res.text, '{"result":{"offset":7,"epoch":"ep"}}');
  });
});

describe('hostile requests', () => {
  /** Sends raw bytes with a client that keeps sending after the server's FIN; collects the answer. */
  async function raw(port: number, parts: (string | Buffer)[], untilMs: number, endAfter = false): Promise<{ text: string; error?: string; ended: boolean }> {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const out: { text: string; error?: string; ended: boolean } = { text: '', ended: false };
    socket.on('data', (d) => (out.text += d.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (out.error ??= err.code));
    const ended = new Promise<void>((resolve) => {
      socket.on('end', () => resolve());
      socket.on('close', () => resolve());
    });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    for (const p of parts) await new Promise<void>((resolve) => socket.write(p, () => resolve()));
    if (endAfter) socket.end();
    out.ended = await Promise.race([ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), untilMs))]);
    socket.destroy();
    return out;
  }
  const portOf = (t: TestApi): number => Number(new URL(t.base).port);

  it('answers 401 from the head to a request without a key declaring a large body, and closes', async () => {
    const head = 'POST /api/publish HTTP/1.1\r\nHost: t\r\nContent-Length: 9000000\r\n\r\n';
    const r = await raw(portOf(api), [head], 3000);
    assert.match(r.text, /^HTTP\/1\.1 401 /);
    assert.match(r.text, /\r\nConnection: close\r\n/i);
    assert.ok(r.ended, 'the body is not waited for');
  });

  it('answers 413 to a declared body over the limit while the client keeps sending it, without a reset', async () => {
    const small = await startTestApi({ maxBodyBytes: 64 * 1024 });
    try {
      const body = Buffer.alloc(4 * 1024 * 1024, 0x61);
      const head = `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nContent-Length: ${body.length}\r\n\r\n`;
      const r = await raw(portOf(small), [head, body], 5000, true);
      assert.match(r.text, /^HTTP\/1\.1 413 /);
      assert.equal(r.error, undefined, `the client saw ${r.error}`);
      assert.ok(r.ended);
    } finally {
      await small.close();
    }
  });

  it('answers deeply nested data with 400 and logs nothing at error level', async () => {
    api.logs.length = 0;
    const deep = `{"channel":"c","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assert.equal((await api.post('/api/publish', deep)).status, 400);
    const legacy = await api.post('/api', `{"method":"publish","params":{"channel":"c","data":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}}`);
    assert.equal(legacy.status, 200);
    assert.equal(legacy.json().error.code, 107);
    assert.deepEqual(api.logs.filter((l) => l.level === 'error'), []);
  });

  it('logs an aborted request at debug level only, once per window', async () => {
    api.logs.length = 0;
    for (let i = 0; i < 3; i++) {
      // node:http reads a chunked body through the handler; the fast path would not log at all.
      const head = `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"channel":"c",`;
      const socket = net.connect(portOf(api), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      await new Promise<void>((resolve) => socket.write(head, () => resolve()));
      await new Promise((r) => setTimeout(r, 30));
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(api.logs.filter((l) => l.level !== 'debug'), []);
    assert.ok(api.logs.filter((l) => l.level === 'debug').length <= 1);
  });
});
