import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { ProxyCallError, type ProxyClient } from '../core/proxy-ports.js';
import { Disconnect, ProtocolError } from '../protocol/codes.js';
import { HttpProxy, type HttpProxyOptions } from './index.js';

interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A real HTTP backend on 127.0.0.1 recording what it receives and counting connections. */
class Backend {
  readonly received: Received[] = [];
  connections = 0;
  handler: Handler = (_req, res) => reply(res, 200, '{}');
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.received.push({ path: req.url ?? '', method: req.method ?? '', headers: req.headers, body });
        this.handler(req, res, body);
      });
    });
    this.server.on('connection', (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/hook?x=1`;
  }

  last(): Received {
    const r = this.received.at(-1);
    assert.ok(r, 'backend received no request');
    return r;
  }

  reset(): void {
    this.received.length = 0;
    this.handler = (_req, res) => reply(res, 200, '{}');
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function reply(res: ServerResponse, status: number, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

const answer = (json: unknown): Handler => (_req, res) => reply(res, 200, JSON.stringify(json));
const answerText = (text: string, status = 200): Handler => (_req, res) => reply(res, status, text);

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

const client: ProxyClient = {
  client: 'c-1',
  transport: 'websocket',
  protocol: 'json',
  user: '',
  headers: {},
};

describe('HttpProxy', () => {
  const backend = new Backend();
  const proxies: HttpProxy[] = [];
  const make = (o: Partial<HttpProxyOptions> = {}): HttpProxy => {
    const p = new HttpProxy({ name: 'test', endpoint: backend.url, timeoutMs: 2000, ...o });
    proxies.push(p);
    return p;
  };

  before(() => backend.start());
  after(() => backend.stop());
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    backend.reset();
  });

  describe('requests', () => {
    it('connect: POSTs the common fields, raw data spliced as sent, name, version, channels', async () => {
      const p = make();
      await p.connect({ ...client, data: enc('{"a": [1, 2.50]}'), name: 'js', version: '5.0.0', channels: ['a', 'b'] });
      const r = backend.last();
      assert.equal(r.method, 'POST');
      assert.equal(r.path, '/hook?x=1');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(
        r.body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","data":{"a": [1, 2.50]},"name":"js","version":"5.0.0","channels":["a","b"]}',
      );
    });

    it('connect: omits empty fields and has no user', async () => {
      await make().connect({ ...client, user: 'ignored' });
      assert.equal(backend.last().body, '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json"}');
    });

    it('binary encoding: b64data and "encoding":"binary" for every payload', async () => {
      const p = make({ binaryEncoding: true });
      const bin = new Uint8Array([0, 1, 2, 255]);
      await p.connect({ ...client, data: bin });
      assert.equal(backend.last().body, '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"binary","b64data":"AAEC/w=="}');
      await p.subscribe({ ...client, protocol: 'protobuf', channel: 'ch', data: bin });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"protobuf","encoding":"binary","user":"","channel":"ch","b64data":"AAEC/w=="}',
      );
      await p.publish({ ...client, user: 'u', channel: 'ch', data: bin });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"binary","user":"u","channel":"ch","b64data":"AAEC/w=="}',
      );
      await p.rpc({ ...client, user: 'u', method: 'm', data: bin });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"binary","user":"u","method":"m","b64data":"AAEC/w=="}',
      );
    });

    it('refresh, subscribe, publish, rpc, sub_refresh: user always present, meta only when included', async () => {
      const meta = enc('{"m":1}');
      const plain = make();
      await plain.refresh({ ...client, meta });
      assert.equal(backend.last().body, '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","user":""}');

      const p = make({ includeConnectionMeta: true });
      const c = { ...client, user: '42', meta };
      await p.refresh(c);
      assert.equal(backend.last().body, '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","user":"42","meta":{"m":1}}');
      await p.subscribe({ ...c, channel: 'news', token: 't', data: enc('"hi"') });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","user":"42","channel":"news","token":"t","meta":{"m":1},"data":"hi"}',
      );
      await p.publish({ ...c, channel: 'news', data: enc('{"text":"x"}') });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","user":"42","channel":"news","data":{"text":"x"},"meta":{"m":1}}',
      );
      await p.rpc({ ...c, method: 'getX', data: enc('[1]') });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","user":"42","method":"getX","data":[1],"meta":{"m":1}}',
      );
      await p.subRefresh({ ...c, channel: 'news' });
      assert.equal(
        backend.last().body,
        '{"client":"c-1","transport":"websocket","protocol":"json","encoding":"json","user":"42","channel":"news","meta":{"m":1}}',
      );
      for (const r of backend.received) assert.doesNotThrow(() => JSON.parse(r.body) as unknown);
    });

    it('a payload that is not JSON fails without a request in JSON encoding', async () => {
      const p = make();
      await assert.rejects(p.publish({ ...client, channel: 'ch', data: new Uint8Array([0x08, 0x01]) }), ProxyCallError);
      assert.equal(backend.received.length, 0);
    });

    it('headers: static < emulated < transport, listed names only, case-insensitive', async () => {
      const p = make({
        staticHeaders: { 'X-Static': 's', 'X-Both': 'static', 'X-Emu-Over': 'static' },
        emulatedHeaders: ['X-Emu', 'x-both', 'X-EMU-OVER'],
        httpHeaders: ['X-Real', 'X-BOTH', 'x-only-http', 'Content-Length', 'Cookie'],
      });
      await p.connect({
        ...client,
        headers: { 'x-real': 'r', 'x-both': 'transport', 'x-unlisted': 'u', 'content-length': '999', cookie: ['a=1', 'b=2'] },
        emulatedHeaders: { 'X-Emu': 'e', 'X-Both': 'emulated', 'x-emu-over': 'emulated', 'X-Only-Http': 'client-controlled' },
      });
      const h = backend.last().headers;
      assert.equal(h['x-static'], 's');
      assert.equal(h['x-emu'], 'e');
      assert.equal(h['x-emu-over'], 'emulated');
      assert.equal(h['x-both'], 'transport');
      assert.equal(h['x-real'], 'r');
      assert.equal(h['cookie'], 'a=1; b=2');
      assert.equal(h['x-unlisted'], undefined);
      assert.equal(h['x-only-http'], undefined, 'emulated headers are not forwarded by http_headers');
      assert.equal(h['content-type'], 'application/json');
      assert.equal(h['content-length'], String(Buffer.byteLength(backend.last().body)));
    });
  });

  describe('results', () => {
    it('connect: maps every field; raw values keep their exact bytes', async () => {
      const info = '{"big": 12345678901234567890, "f": 1.0}';
      backend.handler = answerText(
        `{"result":{"user":"56","expire_at":1900000000,"info":${info},"data":["d"],"channels":["a"],` +
          `"subs":{"s1":{"info":{"i":1},"b64data":"AQI=","override":{"presence":{"value":true},"join_leave":{}}},"s2":{}},` +
          `"meta":{"tenant":"t"},"caps":[{"allow":["sub"]}]}}`,
      );
      const r = await make().connect(client);
      assert.ok(r);
      assert.equal(r.user, '56');
      assert.equal(r.expireAt, 1900000000);
      assert.equal(text(r.info), info);
      assert.equal(text(r.data), '["d"]');
      assert.deepEqual(r.channels, ['a']);
      assert.equal(text(r.meta), '{"tenant":"t"}');
      const s1 = r.subs?.s1;
      assert.equal(text(s1?.info), '{"i":1}');
      assert.deepEqual([...(s1?.data ?? [])], [1, 2]);
      assert.deepEqual({ ...s1?.override }, { presence: true, join_leave: false });
      assert.deepEqual({ ...r.subs?.s2 }, {});
    });

    it('connect: b64info/b64data win over raw; no result means no credentials', async () => {
      backend.handler = answer({ result: { user: '', b64info: 'AA==', info: { x: 1 }, b64data: 'AQ==', data: 'raw' } });
      const r = await make().connect(client);
      assert.deepEqual([...(r?.info ?? [])], [0]);
      assert.deepEqual([...(r?.data ?? [])], [1]);
      backend.handler = answer({});
      assert.equal(await make().connect(client), undefined);
      backend.handler = answer({ result: null });
      assert.equal(await make().connect(client), undefined);
    });

    it('connect: an empty or null b64 field leaves the raw one; a mistyped one fails naming it', async () => {
      backend.handler = answer({ result: { user: 'u', b64info: '', info: { x: 1 }, b64data: null, data: [2] } });
      const r = await make().connect(client);
      assert.equal(Buffer.from(r?.info ?? []).toString(), '{"x":1}');
      assert.equal(Buffer.from(r?.data ?? []).toString(), '[2]');
      backend.handler = answer({ result: { user: 'u', b64data: 7, data: [2] } });
      await assert.rejects(make().connect(client), (err: Error) => err instanceof ProxyCallError && /result\.b64data: expected a string/.test(err.message));
    });

    it('refresh and sub_refresh: result fields; missing result or expired means expired', async () => {
      const p = make();
      backend.handler = answerText('{"result":{"expire_at":1700000000,"info":{"n":1},"meta":{"m":2}}}');
      const r = await p.refresh(client);
      assert.equal(r.expired, false);
      assert.equal(r.expireAt, 1700000000);
      assert.equal(text(r.info), '{"n":1}');
      assert.equal(text(r.meta), '{"m":2}');
      backend.handler = answer({ result: { expired: true, expire_at: 5 } });
      assert.deepEqual(await p.refresh(client), { expired: true, expireAt: 0 });
      backend.handler = answer({});
      assert.deepEqual(await p.refresh(client), { expired: true, expireAt: 0 });
      // Centrifugo's refresh reads only `result`: error and disconnect leave it missing.
      backend.handler = answer({ disconnect: { code: 4000, reason: 'x' }, error: { code: 1000, message: 'y' } });
      assert.deepEqual(await p.refresh(client), { expired: true, expireAt: 0 });

      backend.handler = answer({ result: { expire_at: 9, b64info: 'AQ==' } });
      const s = await p.subRefresh({ ...client, channel: 'c' });
      assert.equal(s.expired, false);
      assert.equal(s.expireAt, 9);
      assert.deepEqual([...(s.info ?? [])], [1]);
      backend.handler = answer({ result: null });
      assert.deepEqual(await p.subRefresh({ ...client, channel: 'c' }), { expired: true, expireAt: 0 });
    });

    it('subscribe: expire_at, info, data, override; empty result allows', async () => {
      const p = make();
      backend.handler = answerText('{"result":{"expire_at":77,"info":{"i":true},"data":"d","override":{"force_recovery":{"value":true},"force_positioning":{"value":false}}}}');
      const r = await p.subscribe({ ...client, channel: 'c' });
      assert.equal(r.expireAt, 77);
      assert.equal(text(r.info), '{"i":true}');
      assert.equal(text(r.data), '"d"');
      assert.deepEqual({ ...r.override }, { force_recovery: true, force_positioning: false });
      backend.handler = answer({});
      assert.deepEqual(await p.subscribe({ ...client, channel: 'c' }), { expireAt: 0 });
    });

    it('publish: data wins over b64data; options mapped', async () => {
      const p = make();
      backend.handler = answerText(
        '{"result":{"data":{"new":1},"b64data":"AQ==","skip_history":true,"tags":{"k":"v"},"idempotency_key":"ik","delta":true,"version":3,"version_epoch":"e"}}',
      );
      const r = await p.publish({ ...client, channel: 'c', data: enc('{}') });
      assert.equal(text(r.data), '{"new":1}');
      assert.deepEqual({ ...r, data: undefined, tags: { ...r.tags } }, {
        data: undefined,
        skipHistory: true,
        tags: { k: 'v' },
        idempotencyKey: 'ik',
        delta: true,
        version: 3,
        versionEpoch: 'e',
      });
      backend.handler = answer({ result: { b64data: 'AQ==' } });
      assert.deepEqual([...((await p.publish({ ...client, channel: 'c', data: enc('{}') })).data ?? [])], [1]);
      backend.handler = answer({});
      assert.deepEqual(await p.publish({ ...client, channel: 'c', data: enc('{}') }), {});
    });

    it('rpc: data or b64data; empty for none', async () => {
      const p = make();
      backend.handler = answerText('{"result":{"data":{"answer":42}}}');
      assert.equal(text(await p.rpc({ ...client, method: 'm', data: enc('{}') })), '{"answer":42}');
      backend.handler = answer({ result: { b64data: 'AQI=' } });
      assert.deepEqual([...(await p.rpc({ ...client, method: 'm', data: enc('{}') }))], [1, 2]);
      backend.handler = answer({ result: {} });
      assert.equal((await p.rpc({ ...client, method: 'm', data: enc('{}') })).length, 0);
    });
  });

  describe('errors and disconnects', () => {
    it('error passes through; disconnect wins over error, error over result', async () => {
      const p = make();
      backend.handler = answer({ error: { code: 1001, message: 'nope', temporary: true }, result: { user: 'x' } });
      await assert.rejects(p.connect(client), (e: unknown) => {
        assert.ok(e instanceof ProtocolError);
        assert.deepEqual([e.code, e.message, e.temporary], [1001, 'nope', true]);
        return true;
      });
      backend.handler = answer({ error: { code: 1001, message: 'nope' }, disconnect: { code: 4501, reason: 'bye' } });
      for (const call of [
        () => p.connect(client),
        () => p.subscribe({ ...client, channel: 'c' }),
        () => p.publish({ ...client, channel: 'c', data: enc('1') }),
        () => p.rpc({ ...client, method: 'm', data: enc('1') }),
      ]) {
        await assert.rejects(call(), (e: unknown) => {
          assert.ok(e instanceof Disconnect);
          assert.deepEqual([e.code, e.reason, e.reconnect], [4501, 'bye', false]);
          return true;
        });
      }
    });

    it('non-200 without a transform is a ProxyCallError naming the status and proxy', async () => {
      backend.handler = answerText('{"result":{}}', 500);
      await assert.rejects(make({ name: 'billing' }).subscribe({ ...client, channel: 'c' }), (e: unknown) => {
        assert.ok(e instanceof ProxyCallError);
        assert.equal(e.code, 'PROXY_CALL_FAILED');
        assert.match(e.message, /billing/);
        assert.match(e.message, /500/);
        return true;
      });
    });

    it('status transforms map a status to an error or a disconnect', async () => {
      const p = make({
        statusToCodeTransforms: [
          { statusCode: 403, toError: { code: 403, message: 'forbidden', temporary: false } },
          { statusCode: 401, toError: { code: 0, message: '' }, toDisconnect: { code: 4501, reason: 'unauthorized' } },
        ],
      });
      backend.handler = answerText('denied', 403);
      await assert.rejects(p.rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof ProtocolError && e.code === 403 && e.message === 'forbidden');
      backend.handler = answerText('', 401);
      await assert.rejects(p.connect(client), (e: unknown) => e instanceof Disconnect && e.code === 4501 && e.reason === 'unauthorized');
      backend.handler = answerText('', 404);
      await assert.rejects(p.connect(client), ProxyCallError);
    });

    it('a backend that never answers fails with ProxyCallError after the timeout', async () => {
      backend.handler = () => undefined;
      const p = make({ timeoutMs: 200 });
      const started = Date.now();
      await assert.rejects(p.subscribe({ ...client, channel: 'c' }), (e: unknown) => e instanceof ProxyCallError && /timed out/.test(e.message));
      assert.ok(Date.now() - started < 5000);
    });

    it('closes the connection of every call that timed out (none is left waiting on the backend)', async () => {
      let unanswered = 0;
      let dropped = 0;
      backend.handler = (_req, res) => {
        unanswered++;
        // 'close' before any answer: the proxy closed this request's connection.
        res.on('close', () => dropped++);
      };
      const p = make({ timeoutMs: 200 });
      const calls = Array.from({ length: 20 }, (_, i) => p.subscribe({ ...client, channel: `c${i}` }));
      for (const c of calls) await assert.rejects(c, (e: unknown) => e instanceof ProxyCallError && /timed out/.test(e.message));
      const deadline = Date.now() + 3000;
      while (dropped < unanswered && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(unanswered, 20);
      assert.equal(dropped, 20, 'each timed-out call had its connection closed');
      backend.handler = answer({ result: {} });
      assert.deepEqual(await p.subscribe({ ...client, channel: 'after' }), { expireAt: 0 });
    });

    it('calls queued behind a held connection settle at their own deadline; the pool recovers', async () => {
      const held: ServerResponse[] = [];
      backend.handler = (_req, res) => held.push(res);
      const p = make({ timeoutMs: 300, maxConnections: 1 });
      const burst = [1, 2, 3, 4].map((i) => p.rpc({ ...client, method: `m${i}`, data: enc('1') }));
      // Each call, queued or sent, fails with the proxy's own timeout, not with the request it aborted.
      const timedOut = (e: unknown): boolean => e instanceof ProxyCallError && e.message === 'http proxy test (rpc): timed out after 300 ms';
      await Promise.all(burst.map((c) => assert.rejects(c, timedOut)));
      backend.handler = answer({ result: { data: 'later' } });
      assert.equal(text(await p.rpc({ ...client, method: 'after', data: enc('1') })), '"later"');
      for (const res of held) res.destroy();
    });

    it('a non-200 answer with a large body still maps through its status transform', async () => {
      backend.handler = answerText('x'.repeat(200 * 1024), 403);
      const p = make({ statusToCodeTransforms: [{ statusCode: 403, toError: { code: 403, message: 'forbidden' } }] });
      await assert.rejects(p.rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof ProtocolError && e.code === 403);
      backend.handler = answer({ result: { data: 1 } });
      assert.equal(text(await p.rpc({ ...client, method: 'm', data: enc('1') })), '1');
    });

    it('a body that stalls mid-way fails with ProxyCallError after the timeout', async () => {
      backend.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"result":');
      };
      await assert.rejects(make({ timeoutMs: 200 }).rpc({ ...client, method: 'm', data: enc('1') }), ProxyCallError);
    });

    it('garbage, HTML, empty or mistyped bodies fail with ProxyCallError', async () => {
      const p = make();
      for (const body of ['<html><body>Bad Gateway</body></html>', '', '{"result":', '[1]', '"s"', '{"result":{"user":5}}', '{"result":{"b64info":"@@@"}}', '{"error":"x"}']) {
        backend.handler = answerText(body);
        await assert.rejects(p.connect(client), ProxyCallError, `body ${JSON.stringify(body)}`);
      }
    });

    it('a body over the size bound fails with ProxyCallError, declared or streamed', async () => {
      const p = make({ maxResponseBytes: 1024 });
      const big = `{"result":{"data":"${'x'.repeat(4096)}"}}`;
      backend.handler = answerText(big);
      await assert.rejects(p.rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof ProxyCallError && /exceeds/.test(e.message));
      backend.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(big.slice(0, 1000));
        res.end(big.slice(1000));
      };
      await assert.rejects(p.rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof ProxyCallError && /exceeds/.test(e.message));
    });

    it('the default bound rejects a body over 10 MiB', async () => {
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      backend.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"result":{}}');
        let n = 0;
        const more = (): void => {
          while (n < 12 && !res.destroyed) {
            n++;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      };
      await assert.rejects(make().rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof ProxyCallError && /exceeds/.test(e.message));
    });

    it('a backend that is down fails with ProxyCallError', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const p = make({ endpoint: `http://127.0.0.1:${port}/` });
      await assert.rejects(p.connect(client), (e: unknown) => e instanceof ProxyCallError && /request failed/.test(e.message));
    });

    it('a closed proxy fails calls with ProxyCallError', async () => {
      const p = make();
      await p.close();
      await assert.rejects(p.connect(client), ProxyCallError);
    });

    it('rejects endpoints that are not http(s) URLs', () => {
      assert.throws(() => new HttpProxy({ name: 'x', endpoint: 'grpc://127.0.0.1:1', timeoutMs: 1000 }));
      assert.throws(() => new HttpProxy({ name: 'x', endpoint: 'not a url', timeoutMs: 1000 }));
      assert.throws(() => new HttpProxy({ name: 'x', endpoint: 'http://127.0.0.1:1', timeoutMs: 0 }));
    });
  });

  it('keeps connections alive: 20 sequential calls use one connection, also after non-200 answers', async () => {
    const before = backend.connections;
    const p = make();
    for (let i = 0; i < 20; i++) {
      const failing = i >= 10;
      backend.handler = failing ? answerText('oops', 503) : answer({ result: { data: i } });
      const call = p.rpc({ ...client, method: 'm', data: enc(String(i)) });
      if (failing) await assert.rejects(call, ProxyCallError);
      else assert.equal(text(await call), String(i));
    }
    assert.equal(backend.connections - before, 1);
  });
});
