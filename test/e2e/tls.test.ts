/**
 * TLS listeners, HTTP/2 and h2c against real Gyre processes, with a CA made by the test: the
 * official SDK over wss:// receiving what the HTTPS API publishes, API calls over HTTP/2
 * (ALPN h2) and HTTP/1.1 on the same port, a streaming transport over HTTP/2, a separate
 * `internal_tls`, `tls_external`, mTLS with `client_ca_pem`, and cleartext HTTP/2 with
 * `h2c_external`.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import http2 from 'node:http2';
import { ReadableStream } from 'node:stream/web';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket from 'ws';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { subscribed } from '../helpers/sdk.js';
import { makeTestCa, type TestCa } from '../helpers/tls-certs.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const KEY = 'tls-api-key';

interface Answer {
  status: number;
  body: any;
  /** The protocol the call went over: 'h2', 'http/1.1' or 'h2c'. */
  protocol: string;
}

/** POST over HTTPS/1.1 (no ALPN h2 offered). */
function httpsPost(url: string, body: unknown, opts: https.RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, agent: false, ...opts }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, protocol: `http/${res.httpVersion}` }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** POST over HTTP/2: `https://` negotiates h2 by ALPN, `http://` speaks h2c with prior knowledge. */
async function h2Post(origin: string, path: string, body: unknown, opts: http2.SecureClientSessionOptions = {}): Promise<Answer> {
  const session = http2.connect(origin, opts);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    const protocol = session.alpnProtocol ?? '';
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json', 'x-api-key': KEY });
    const status = await new Promise<number>((resolve, reject) => {
      req.once('response', (h) => resolve(Number(h[':status'])));
      req.once('error', reject);
      req.end(JSON.stringify(body));
    });
    let text = '';
    req.setEncoding('utf8');
    for await (const c of req) text += c as string;
    return { status, body: text ? JSON.parse(text) : undefined, protocol };
  } finally {
    session.close();
  }
}

/** The SDK's WebSocket, trusting the test CA. */
function wsWithCa(ca: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { ca });
    }
  } as unknown as typeof WebSocket;
}

describe('TLS listeners with HTTP/2', () => {
  let ca: TestCa;
  let gyre: GyreProcess;
  let internalPort: number;
  const clients: Centrifuge[] = [];

  before(async () => {
    ca = makeTestCa();
    const ext = ca.server('external');
    const int = ca.server('internal');
    internalPort = await freePort();
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      http_api: { key: KEY },
      uni_http_stream: { enabled: true },
      http_stream: { enabled: true },
      // File paths for the external port, raw PEM and base64 PEM for the internal one.
      http_server: {
        internal_port: String(internalPort),
        tls: { enabled: true, cert_pem: ext.certFile, key_pem: ext.keyFile },
        internal_tls: { enabled: true, cert_pem: int.cert, key_pem: Buffer.from(int.key).toString('base64') },
      },
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await gyre?.stop();
    ca?.remove();
  });

  it('loads without a not-supported warning and refuses plain HTTP on the TLS port', async () => {
    assert.doesNotMatch(gyre.output(), /not supported yet/);
    await assert.rejects(fetch(`http://127.0.0.1:${gyre.port}/connection/websocket`));
  });

  it('the SDK over wss:// receives what the HTTPS API publishes (internal port, its own certificate)', async () => {
    const c = new Centrifuge(`wss://localhost:${gyre.port}/connection/websocket`, { websocket: wsWithCa(ca.ca), minReconnectDelay: 100 });
    c.on('error', () => undefined);
    clients.push(c);
    const connected = waitEvent(c, 'connected');
    c.connect();
    const ctx = await connected;
    assert.equal(ctx.transport, 'websocket');
    const channel = uniq('tls');
    const { sub } = await subscribed(c, channel);
    const got = collect(sub, 'publication');
    const r = await httpsPost(`https://localhost:${internalPort}/api/publish`, { channel, data: { over: 'https' } }, { ca: ca.ca });
    assert.equal(r.status, 200);
    assert.equal(r.protocol, 'http/1.1');
    assert.deepEqual(r.body, { result: {} });
    await waitFor(() => got.length === 1, 'publication over wss');
    assert.deepEqual(got[0].data, { over: 'https' });
  });

  it('serves the API over HTTP/2 (ALPN h2) on the internal TLS port', async () => {
    const r = await h2Post(`https://localhost:${internalPort}`, '/api/info', {}, { ca: ca.ca });
    assert.equal(r.protocol, 'h2');
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.body.result.nodes));
    const bad = await h2Post(`https://localhost:${internalPort}`, '/api/publish', { channel: '' }, { ca: ca.ca });
    assert.equal(bad.status, 200);
    assert.equal(bad.body.error.code, 107);
  });

  it('early answers over HTTP/2 (401, 413) end their stream only; the session keeps serving', async () => {
    const session = http2.connect(`https://localhost:${internalPort}`, { ca: ca.ca, maxSessionMemory: 100 });
    try {
      const call = (headers: http2.OutgoingHttpHeaders, body: Buffer | string): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ...headers });
          let status = 0;
          req.once('response', (h) => (status = Number(h[':status'])));
          req.on('data', () => undefined);
          req.once('close', () => resolve(status));
          req.once('error', reject);
          req.end(body);
        });
      assert.equal(await call({ ':path': '/api/info' }, '{}'), 401);
      const big = Buffer.alloc(12 * 1024 * 1024, 0x20);
      assert.equal(await call({ ':path': '/api/publish', 'x-api-key': KEY, 'content-length': String(big.length) }, big), 413);
      assert.equal(await call({ ':path': '/api/info', 'x-api-key': KEY }, '{}'), 200);
      // HTTP/2 has no Connection header: none is set (node would warn about it).
      assert.doesNotMatch(gyre.output(), /connection header/i);
    } finally {
      session.close();
    }
  });

  it('the internal port presents its own certificate, the external port its own', async () => {
    const names = async (port: number): Promise<string> => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.ca });
      await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      return String(cn);
    };
    assert.equal(await names(gyre.port), 'external');
    assert.equal(await names(internalPort), 'internal');
  });

  it('streams a unidirectional HTTP-streaming connection over HTTP/2', async () => {
    const session = http2.connect(`https://localhost:${gyre.port}`, { ca: ca.ca });
    try {
      const req = session.request({ ':method': 'POST', ':path': '/connection/uni_http_stream', 'content-type': 'application/json' });
      req.end(JSON.stringify({}));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => req.once('response', resolve).once('error', reject));
      assert.equal(session.alpnProtocol, 'h2');
      assert.equal(headers[':status'], 200);
      req.setEncoding('utf8');
      let text = '';
      await new Promise<void>((resolve, reject) => {
        req.on('data', (c: string) => {
          text += c;
          if (text.includes('\n')) resolve();
        });
        req.once('error', reject);
      });
      const first = JSON.parse(text.split('\n')[0] ?? '');
      assert.ok(first.connect?.client, `a connect push: ${text}`);
      req.close();
    } finally {
      session.close();
    }
  });

  it('the SDK over bidirectional HTTP-streaming and emulation with an HTTP/2 fetch', async () => {
    const dispatcher = new Agent({ allowH2: true, connect: { ca: ca.ca } });
    const h2fetch = ((input: any, init: any) => undiciFetch(input, { ...init, dispatcher })) as unknown as typeof fetch;
    const base = `https://localhost:${gyre.port}`;
    const c = new Centrifuge([{ transport: 'http_stream', endpoint: `${base}/connection/http_stream` }], {
      fetch: h2fetch,
      readableStream: ReadableStream,
      emulationEndpoint: `${base}/emulation`,
      minReconnectDelay: 100,
    } as any);
    c.on('error', () => undefined);
    clients.push(c);
    const connected = waitEvent(c, 'connected');
    c.connect();
    assert.equal((await connected).transport, 'http_stream');
    const channel = uniq('h2stream');
    // The subscribe command travels through /emulation.
    const { sub } = await subscribed(c, channel);
    const got = collect(sub, 'publication');
    const r = await h2Post(`https://localhost:${internalPort}`, '/api/publish', { channel, data: { n: 1 } }, { ca: ca.ca });
    assert.equal(r.status, 200);
    await waitFor(() => got.length === 1, 'publication over HTTP/2 streaming');
    c.disconnect();
    await dispatcher.close();
  });
});

describe('mTLS and tls_external', () => {
  let ca: TestCa;
  let gyre: GyreProcess;
  let internalPort: number;

  before(async () => {
    ca = makeTestCa();
    const srv = ca.server('server');
    internalPort = await freePort();
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      http_api: { key: KEY },
      http_server: {
        internal_port: String(internalPort),
        tls_external: true,
        tls: { enabled: true, cert_pem: srv.cert, key_pem: srv.key, client_ca_pem: ca.caFile },
      },
    });
  });
  after(async () => {
    await gyre?.stop();
    ca?.remove();
  });

  it('requires a client certificate from the CA on the external port', async () => {
    const good = ca.client('alice');
    const other = makeTestCa('Other CA');
    try {
      const stranger = other.client('mallory');
      const url = `https://localhost:${gyre.port}/connection/websocket`;
      const handshake = (opts: tls.ConnectionOptions): Promise<string> =>
        new Promise((resolve) => {
          const s = tls.connect({ host: '127.0.0.1', port: gyre.port, servername: 'localhost', ca: ca.ca, ...opts });
          // TLS 1.3: the server's verdict on the client certificate arrives after the client's handshake.
          s.once('secureConnect', () => {
            s.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
          });
          let data = '';
          s.on('data', (c: Buffer) => (data += c.toString()));
          s.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
          s.once('close', () => resolve(data ? data.split('\r\n')[0] ?? '' : 'closed'));
        });
      assert.match(await handshake({}), /^error|^closed$/);
      assert.match(await handshake({ cert: stranger.cert, key: stranger.key }), /^error|^closed$/);
      assert.match(await handshake({ cert: good.cert, key: good.key }), /^HTTP\/1\.1 404/);
      // The SDK over wss:// with the client certificate.
      const Ws = class extends WebSocket {
        constructor(u: string, p?: string | string[]) {
          super(u, p, { ca: ca.ca, cert: good.cert, key: good.key });
        }
      };
      const c = new Centrifuge(url.replace('https:', 'wss:'), { websocket: Ws as unknown as typeof WebSocket });
      c.on('error', () => undefined);
      const connected = waitEvent(c, 'connected');
      c.connect();
      await connected;
      c.disconnect();
    } finally {
      other.remove();
    }
  });

  it('leaves the internal port plain with tls_external', async () => {
    const res = await fetch(`http://127.0.0.1:${internalPort}/api/info`, { method: 'POST', headers: { 'x-api-key': KEY }, body: '{}' });
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as any).result.nodes);
  });
});

describe('h2c_external', () => {
  let gyre: GyreProcess;

  before(async () => {
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      http_api: { key: KEY, external: true },
      http_server: { internal_port: String(await freePort()), h2c_external: true },
    });
  });
  after(async () => {
    await gyre?.stop();
  });

  it('serves prior-knowledge HTTP/2 and HTTP/1.1 (with WebSocket) on the same cleartext port', async () => {
    assert.doesNotMatch(gyre.output(), /not supported yet/);
    const c = new Centrifuge(gyre.wsUrl, { websocket: WebSocket });
    c.on('error', () => undefined);
    const connected = waitEvent(c, 'connected');
    c.connect();
    await connected;
    const channel = uniq('h2c');
    const { sub } = await subscribed(c, channel);
    const got = collect(sub, 'publication');
    const r = await h2Post(`http://127.0.0.1:${gyre.port}`, '/api/publish', { channel, data: { over: 'h2c' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { result: {} });
    await waitFor(() => got.length === 1, 'publication made over h2c');
    const h1 = await fetch(`${gyre.apiUrl}/info`, { method: 'POST', headers: { 'x-api-key': KEY }, body: '{}' });
    assert.equal(h1.status, 200);
    c.disconnect();
  });
  it('survives random first bytes: partial prefaces, a preface then junk, garbage, early close; then still serves both protocols', async () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    let seed = 11;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const junk = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rand(256)));
    const sends: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const kind = rand(4);
      if (kind === 0) sends.push(preface.subarray(0, rand(preface.length)));
      else if (kind === 1) sends.push(Buffer.concat([preface, junk(rand(64))]));
      else if (kind === 2) sends.push(junk(1 + rand(200)));
      else sends.push(Buffer.concat([preface.subarray(0, 1 + rand(preface.length - 1)), junk(1 + rand(16))]));
    }
    await Promise.all(
      sends.map(
        (bytes) =>
          new Promise<void>((resolve) => {
            const sock = net.connect(gyre.port, '127.0.0.1', () => {
              // Sent in two pieces so the sniffer also sees a split preface.
              const cut = rand(bytes.length + 1);
              sock.write(bytes.subarray(0, cut));
              setTimeout(() => {
                if (!sock.destroyed) sock.end(bytes.subarray(cut));
              }, 5);
            });
            sock.on('error', () => undefined);
            sock.on('close', () => resolve());
            sock.setTimeout(3000, () => sock.destroy());
            sock.resume();
          }),
      ),
    );
    const r = await h2Post(`http://127.0.0.1:${gyre.port}`, '/api/info', {});
    assert.equal(r.status, 200);
    const h1 = await fetch(`${gyre.apiUrl}/info`, { method: 'POST', headers: { 'x-api-key': KEY }, body: '{}' });
    assert.equal(h1.status, 200);
    assert.equal(gyre.exitCode(), null, 'the process is still running');
  });
});
