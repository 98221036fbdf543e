// The keep-alive API fast path: the whole node:http API binding suite runs again with the
// fast path installed in front of the test server (every answer must be the same), then
// tests of what only the fast path does (pipelining, handing connections to node:http).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http, { type Server } from 'node:http';
import { setTestServerHook, startTestApi, TEST_KEY, type TestApi } from '../api/fake-node.test-helper.js';
import type { ApiEndpoint } from '../api/http-handler.js';
import { FastApiPath } from './fast-api.js';

const paths: FastApiPath[] = [];
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
setTestServerHook((server: Server, endpoint) => {
  paths.push(new FastApiPath(server, endpoint, silent, { keepAliveMs: 300 }));
});

// The binding's own suite, now answered through the fast path wherever it applies.
await import('../api/http-handler.test.js');

describe('fast path', () => {
  let api: TestApi;
  let fast: FastApiPath;
  let port: number;
  before(async () => {
    api = await startTestApi();
    fast = paths[paths.length - 1]!;
    port = Number(new URL(api.base).port);
  });
  after(() => api.close());

  /** Sends raw bytes (optionally in pieces), collects everything until the server closes or `ms` passes. */
  async function exchange(pieces: string[], ms = 1000, pauseMs = 0): Promise<{ text: string; closed: boolean }> {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    socket.on('data', (d) => (text += d.toString('latin1')));
    const done = new Promise<void>((resolve) => socket.on('close', () => ((closed = true), resolve())));
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    for (const p of pieces) {
      socket.write(p);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    await Promise.race([done, new Promise((r) => setTimeout(r, ms))]);
    socket.destroy();
    return { text, closed };
  }

  const publish = (body: string, extra = ''): string =>
    `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const statuses = (text: string): string[] => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]!);

  it('answers pipelined requests in order, then hands the connection to node:http for another shape', async () => {
    const before = fast.served;
    const a = publish('{"channel":"a","data":{"n":1}}');
    const b = publish('{"channel":"b","data":{"n":2}}');
    const get = 'GET /elsewhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';
    const { text, closed } = await exchange([a + b + get]);
    assert.deepEqual(statuses(text), ['200', '200', '418']);
    assert.equal(fast.served - before, 2, 'the two API calls were served by the fast path');
    assert.ok(text.includes('not api'));
    assert.ok(closed);
    const published = api.node.calls.filter((c) => c.method === 'publish').map((c) => (c.arg as { channel: string }).channel);
    assert.deepEqual(published.slice(-2), ['a', 'b']);
  });

  it('a client that pipelines without reading gets every answer, in order, once it reads', async () => {
    const before = fast.served;
    const n = 30000;
    let all = '';
    for (let i = 0; i < n; i++) all += publish(`{"channel":"p${i}","data":{"pad":"${'x'.repeat(200)}"}}`);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    socket.pause();
    socket.write(all);
    // ~4.5 MB of answers while the client reads nothing: on this machine's loopback that fills
    // both socket buffers, so the server stops reading and waits for 'drain' (kernel buffer
    // autotuning decides exactly when; the answers must be complete and in order either way).
    await new Promise((r) => setTimeout(r, 300));
    // Counts `HTTP/1.1 200 ` status lines as they stream in; `carry` holds the end of the
    // previous chunk, too short to hold a whole status line, so nothing is counted twice.
    const marker = 'HTTP/1.1 200 ';
    let carry = '';
    let count = 0;
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${count} of ${n} answers`)), 15_000);
      socket.on('data', (d) => {
        bytes += d.length;
        const chunk = carry + d.toString('latin1');
        for (let i = chunk.indexOf(marker); i >= 0; i = chunk.indexOf(marker, i + 1)) count++;
        carry = chunk.slice(-(marker.length - 1));
        if (count >= n) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.resume();
    });
    socket.destroy();
    assert.equal(count, n, 'every answer is a 200');
    assert.equal(fast.served - before, n, 'all served by the fast path, none handed over while the client was not reading');
    assert.ok(bytes > 2_000_000, `the answers came to ${bytes} bytes, enough to fill the socket buffers of a client that does not read`);
    const published = api.node.calls.filter((c) => c.method === 'publish').map((c) => (c.arg as { channel: string }).channel);
    assert.deepEqual(published.slice(-3), [`p${n - 3}`, `p${n - 2}`, `p${n - 1}`]);
  });

  it('serves a request that arrives byte by byte', async () => {
    const before = fast.served;
    const req = publish('{"channel":"slow","data":{}}', 'Connection: close\r\n');
    const { text, closed } = await exchange([...req], 2000, 1);
    assert.deepEqual(statuses(text), ['200']);
    assert.match(text, /\r\nConnection: close\r\n/);
    assert.match(text, /\r\n\r\n\{"result":\{.*\}\}$/);
    assert.ok(closed, 'Connection: close ends the connection');
    assert.equal(fast.served - before, 1);
  });

  it('leaves chunked bodies, HTTP/1.0, Expect and malformed heads to node:http', async () => {
    const before = fast.served;
    const chunked = `POST /api/info HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`;
    assert.deepEqual(statuses((await exchange([chunked])).text), ['200']);
    const http10 = `POST /api/info HTTP/1.0\r\nX-API-Key: ${TEST_KEY}\r\nContent-Length: 2\r\n\r\n{}`;
    assert.match((await exchange([http10])).text, /^HTTP\/1\.1 200 /);
    const bad = `POST /api/info HTTP/1.1\r\nHost: t\r\nBad Header\r\nContent-Length: 2\r\n\r\n{}`;
    assert.deepEqual(statuses((await exchange([bad])).text), ['400']);
    const noHost = `POST /api/info HTTP/1.1\r\nX-API-Key: ${TEST_KEY}\r\nContent-Length: 2\r\n\r\n{}`;
    assert.deepEqual(statuses((await exchange([noHost])).text), ['400']);
    const smuggle = `POST /api/info HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}`;
    assert.deepEqual(statuses((await exchange([smuggle])).text), ['400']);
    assert.equal(fast.served, before, 'none of these went through the fast path');
  });

  it('answers 401 without a key and keeps the connection', async () => {
    const noKey = `POST /api/info HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}`;
    const { text } = await exchange([noKey + publish('{"channel":"k","data":{}}', 'Connection: close\r\n')]);
    assert.deepEqual(statuses(text), ['401', '200']);
  });

  it('closes idle keep-alive connections after the keep-alive time', async () => {
    const { text, closed } = await exchange([publish('{"channel":"idle","data":{}}')], 3000);
    assert.deepEqual(statuses(text), ['200']);
    assert.match(text, /Keep-Alive: timeout=1/);
    assert.ok(closed, 'closed by the server after 300 ms idle');
  });

  it('a connection silent for the keep-alive time goes to node:http, which then serves it', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    await new Promise((r) => setImmediate(r));
    assert.equal(fast.size, 1);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(fast.size, 0, 'handed over');
    assert.ok(!socket.destroyed);
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', resolve));
    socket.write('GET /elsewhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    await closed;
    assert.deepEqual(statuses(text), ['418']);
  });

  it('refuses to install on a server whose connection listeners are not node:http\'s alone', () => {
    const server = http.createServer();
    server.on('connection', () => {});
    // The endpoint is never reached: the constructor checks the listeners first.
    assert.throws(() => new FastApiPath(server, {} as ApiEndpoint, silent), /2 connection listeners/);
  });

  it('close() ends idle connections and hands new ones to node:http', async () => {
    const other = await startTestApi();
    const path = paths[paths.length - 1]!;
    const otherPort = Number(new URL(other.base).port);
    const socket = net.connect(otherPort, '127.0.0.1');
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    socket.write(publish('{"channel":"c","data":{}}'));
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    assert.equal(path.size, 1);
    const closed = new Promise<void>((resolve) => socket.on('close', resolve));
    path.close();
    await closed;
    assert.equal(path.size, 0);
    const served = path.served;
    assert.equal((await other.post('/api/info', {})).status, 200);
    assert.equal(path.served, served, 'answered by node:http after close()');
    await other.close();
  });
});

describe('fast path bounds', () => {
  /** A server whose fast path keeps idle connections 10 s, with the given node:http timeouts. */
  async function startBounded(headersTimeout: number, requestTimeout: number): Promise<{ port: number; fast: FastApiPath; close(): Promise<void> }> {
    const api = await startTestApi();
    const fast = paths[paths.length - 1]!;
    // The hook installed a fast path with a short keep-alive; these tests need a long one.
    fast.closeAll();
    const server = http.createServer({ headersTimeout, requestTimeout }, (req, res) => {
      res.writeHead(418);
      res.end();
    });
    const own = new FastApiPath(server, (fast as unknown as { endpoint: ApiEndpoint }).endpoint, silent, { keepAliveMs: 10_000, lingerMs: 300 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as net.AddressInfo).port,
      fast: own,
      close: async () => {
        own.closeAll();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await api.close();
      },
    };
  }

  /** Writes `pieces` `pauseMs` apart until the server ends the connection; resolves with what it sent and when. */
  async function trickle(port: number, pieces: string[], pauseMs: number, untilMs: number): Promise<{ text: string; ended: boolean; ms: number }> {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    let ended = false;
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('end', () => (ended = true));
    socket.on('close', () => (ended = true));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    for (const p of pieces) {
      if (ended || Date.now() - started > untilMs) break;
      socket.write(p);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    while (!ended && Date.now() - started < untilMs) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    return { text, ended, ms: Date.now() - started };
  }

  /** Waits (bounded) until the fast path holds no connection: a closed one lingers briefly. */
  async function settled(fast: FastApiPath): Promise<void> {
    for (let i = 0; i < 100 && fast.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(fast.size, 0);
  }

  it('hands a head with bare LF line ends to node:http at once (400), not after the keep-alive time', async () => {
    const b = await startBounded(60_000, 300_000);
    try {
      // Incomplete and malformed: node:http rejects it at the first bare LF.
      const r = await trickle(b.port, [`POST /api/publish HTTP/1.1\nHost: t\nX-API-Key: ${TEST_KEY}\n`], 0, 3000);
      assert.match(r.text, /^HTTP\/1\.1 400 /);
      assert.ok(r.ended);
      assert.ok(r.ms < 3000, `answered after ${r.ms} ms`);
      assert.equal(b.fast.served, 0);
    } finally {
      await b.close();
    }
  });

  it('a head trickling in byte by byte gets 408 once the server\'s headersTimeout passes', async () => {
    const b = await startBounded(600, 300_000);
    try {
      const head = `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nX-Slow: ${'s'.repeat(500)}`;
      const r = await trickle(b.port, [...head], 30, 4000);
      assert.match(r.text, /^HTTP\/1\.1 408 /);
      assert.ok(r.ended, 'the connection is closed');
      await settled(b.fast);
    } finally {
      await b.close();
    }
  });

  it('a body trickling in gets 408 once the server\'s requestTimeout passes', async () => {
    const b = await startBounded(500, 800);
    try {
      const head = `POST /api/publish HTTP/1.1\r\nHost: t\r\nX-API-Key: ${TEST_KEY}\r\nContent-Length: 1000\r\n\r\n`;
      const r = await trickle(b.port, [head, ...'{"channel":"c","data":"'.split(''), ...Array<string>(300).fill('x')], 30, 4000);
      assert.match(r.text, /^HTTP\/1\.1 408 /);
      assert.ok(r.ended);
      await settled(b.fast);
    } finally {
      await b.close();
    }
  });
});
