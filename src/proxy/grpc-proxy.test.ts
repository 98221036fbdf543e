import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ProxyCallError, type ProxyClient, type StreamPublication } from '../core/proxy-ports.js';
import { Disconnect, ProtocolError } from '../protocol/codes.js';
import { GrpcBackend } from './grpc-backend.test-helper.js';
import { GrpcProxy, type GrpcProxyOptions } from './index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const client: ProxyClient = {
  client: 'c-1',
  transport: 'websocket',
  protocol: 'json',
  user: 'u-1',
  headers: { 'x-real': 'transport', authorization: 'Bearer t', 'x-meta': 'm', cookie: 'sid=1', host: 'gyre' },
  emulatedHeaders: { 'X-Emulated': 'em', authorization: 'from-client' },
  meta: enc('{"m":1}'),
};

/** A TCP relay to the backend counting the bytes the client sends. */
async function byteCountingRelay(targetPort: number): Promise<{ port: number; bytesUp(): number; close(): Promise<void> }> {
  let up = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    sockets.add(inbound).add(outbound);
    inbound.on('data', (d: Buffer) => (up += d.length));
    inbound.pipe(outbound).pipe(inbound);
    const drop = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    bytesUp: () => up,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('GrpcProxy', () => {
  const backend = new GrpcBackend();
  const proxies: GrpcProxy[] = [];
  const make = (o: Partial<GrpcProxyOptions> = {}): GrpcProxy => {
    const p = new GrpcProxy({ name: 'test', endpoint: backend.target, timeoutMs: 2000, ...o });
    proxies.push(p);
    return p;
  };

  before(() => backend.start());
  after(() => backend.stop());
  afterEach(async () => {
    backend.reset();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  it('connect: sends the request fields and reads the whole result', async () => {
    backend.answers.Connect = () => ({
      result: {
        user: '42',
        expire_at: 1900000000,
        info: Buffer.from('{"i":1}'),
        data: Buffer.from('{"d":2}'),
        channels: ['news'],
        subs: { 'chat:1': { info: Buffer.from('{"ci":1}'), override: { presence: { value: true }, join_leave: {} } } },
        meta: Buffer.from('{"m":3}'),
      },
    });
    const p = make();
    assert.equal(p.protocol, 'grpc');
    const r = await p.connect({ ...client, user: '', data: enc('{"hello":1}'), name: 'js', version: '1.0', channels: ['a', 'b'] });
    const req = backend.last('Connect').request;
    assert.equal(req.client, 'c-1');
    assert.equal(req.transport, 'websocket');
    assert.equal(req.protocol, 'json');
    assert.equal(req.encoding, 'json');
    assert.equal(text(req.data), '{"hello":1}');
    assert.equal(req.b64data, undefined);
    assert.equal(req.name, 'js');
    assert.equal(req.version, '1.0');
    assert.deepEqual(req.channels, ['a', 'b']);
    assert.ok(r);
    assert.equal(r.user, '42');
    assert.equal(r.expireAt, 1900000000);
    assert.equal(text(r.info), '{"i":1}');
    assert.equal(text(r.data), '{"d":2}');
    assert.deepEqual(r.channels, ['news']);
    assert.equal(text(r.meta), '{"m":3}');
    const sub = r.subs?.['chat:1'];
    assert.equal(text(sub?.info), '{"ci":1}');
    assert.deepEqual(sub?.override, { presence: true, join_leave: false });
  });

  it('connect: no result means no credentials', async () => {
    backend.answers.Connect = () => ({});
    assert.equal(await make().connect(client), undefined);
  });

  it('binary encoding: b64data out, b64 fields in', async () => {
    backend.answers.RPC = () => ({ result: { b64data: Buffer.from([0, 1, 2]).toString('base64') } });
    const out = await make({ binaryEncoding: true }).rpc({ ...client, method: 'm', data: new Uint8Array([255, 0]) });
    const req = backend.last('RPC').request;
    assert.equal(req.encoding, 'binary');
    assert.equal(req.b64data, Buffer.from([255, 0]).toString('base64'));
    assert.equal(req.data, undefined);
    assert.deepEqual([...out], [0, 1, 2]);
  });

  it('refresh, subscribe, publish, rpc, sub_refresh: request fields and results', async () => {
    backend.answers.Refresh = () => ({ result: { expire_at: 2000000000, info: Buffer.from('{"r":1}'), meta: Buffer.from('{"nm":1}') } });
    backend.answers.Subscribe = () => ({ result: { expire_at: 5, data: Buffer.from('{"s":1}'), override: { join_leave: { value: true } } } });
    backend.answers.Publish = () => ({ result: { data: Buffer.from('{"new":1}'), skip_history: true, tags: { t: 'v' }, idempotency_key: 'k', delta: true, version: 7, version_epoch: 'e' } });
    backend.answers.RPC = () => ({ result: { data: Buffer.from('{"answer":42}') } });
    backend.answers.SubRefresh = () => ({ result: { expire_at: 3000000000, info: Buffer.from('{"sr":1}') } });
    const p = make({ includeConnectionMeta: true });

    const rr = await p.refresh(client);
    assert.deepEqual({ ...rr, info: text(rr.info), meta: text(rr.meta) }, { expired: false, expireAt: 2000000000, info: '{"r":1}', meta: '{"nm":1}' });
    const refreshReq = backend.last('Refresh').request;
    assert.equal(refreshReq.user, 'u-1');
    assert.equal(text(refreshReq.meta), '{"m":1}');

    const sr = await p.subscribe({ ...client, channel: 'chat:1', token: 'tok', data: enc('{"x":1}') });
    assert.equal(sr.expireAt, 5);
    assert.equal(text(sr.data), '{"s":1}');
    assert.deepEqual(sr.override, { join_leave: true });
    const subReq = backend.last('Subscribe').request;
    assert.deepEqual([subReq.user, subReq.channel, subReq.token, text(subReq.data), text(subReq.meta)], ['u-1', 'chat:1', 'tok', '{"x":1}', '{"m":1}']);

    const pr = await p.publish({ ...client, channel: 'chat:1', data: enc('{"p":1}') });
    assert.deepEqual({ ...pr, data: text(pr.data), tags: { ...pr.tags } }, { data: '{"new":1}', skipHistory: true, tags: { t: 'v' }, idempotencyKey: 'k', delta: true, version: 7, versionEpoch: 'e' });
    const pubReq = backend.last('Publish').request;
    assert.deepEqual([pubReq.channel, text(pubReq.data)], ['chat:1', '{"p":1}']);

    assert.equal(text(await p.rpc({ ...client, method: 'getUser', data: enc('{"id":1}') })), '{"answer":42}');
    assert.equal(backend.last('RPC').request.method, 'getUser');

    const sub = await p.subRefresh({ ...client, channel: 'chat:1' });
    assert.deepEqual({ ...sub, info: text(sub.info) }, { expired: false, expireAt: 3000000000, info: '{"sr":1}' });
    assert.equal(backend.last('SubRefresh').request.channel, 'chat:1');
  });

  it('the user field is sent even when empty; meta only with include_connection_meta', async () => {
    const p = make();
    await p.refresh({ ...client, user: '' });
    const req = backend.last('Refresh').request;
    assert.equal(req.meta, undefined);
    // proto3 drops empty strings on the wire: an anonymous user reads back as absent or "".
    assert.ok(req.user === undefined || req.user === '');
  });

  it('disconnect wins over error, error over result', async () => {
    backend.answers.Subscribe = () => ({ result: {}, error: { code: 1000, message: 'nope', temporary: true }, disconnect: { code: 4501, reason: 'bye' } });
    const p = make();
    await assert.rejects(p.subscribe({ ...client, channel: 'c' }), (e: unknown) => e instanceof Disconnect && e.code === 4501 && e.reason === 'bye');
    backend.answers.Subscribe = () => ({ result: {}, error: { code: 1000, message: 'nope', temporary: true } });
    await assert.rejects(p.subscribe({ ...client, channel: 'c' }), (e: unknown) => e instanceof ProtocolError && e.code === 1000 && e.message === 'nope' && e.temporary);
    backend.answers.Publish = () => ({ error: { code: 403, message: 'denied' } });
    await assert.rejects(p.publish({ ...client, channel: 'c', data: enc('1') }), (e: unknown) => e instanceof ProtocolError && e.code === 403);
    backend.answers.RPC = () => ({ disconnect: { code: 4000, reason: 'rpc off' } });
    await assert.rejects(p.rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof Disconnect && e.code === 4000);
    backend.answers.Connect = () => ({ error: { code: 101, message: 'unauthorized' } });
    await assert.rejects(p.connect(client), (e: unknown) => e instanceof ProtocolError && e.code === 101);
  });

  it('refresh and sub_refresh read only the result: missing or expired means expired', async () => {
    backend.answers.Refresh = () => ({ error: { code: 1000, message: 'x' }, disconnect: { code: 4000, reason: 'y' } });
    backend.answers.SubRefresh = () => ({ result: { expired: true, expire_at: 99 } });
    const p = make();
    assert.deepEqual(await p.refresh(client), { expired: true, expireAt: 0 });
    assert.deepEqual(await p.subRefresh({ ...client, channel: 'c' }), { expired: true, expireAt: 0 });
  });

  it('a GRPC status other than OK is a ProxyCallError', async () => {
    backend.answers.RPC = () => ({ grpcError: grpc.status.PERMISSION_DENIED, details: 'go away' });
    await assert.rejects(make().rpc({ ...client, method: 'm', data: enc('1') }), (e: unknown) => e instanceof ProxyCallError && /PERMISSION_DENIED/.test(e.message));
  });

  it('an answer the readers refuse (invalid base64) is a ProxyCallError', async () => {
    backend.answers.Connect = () => ({ result: { user: 'x', b64info: '***' } });
    await assert.rejects(make().connect(client), (e: unknown) => e instanceof ProxyCallError && /invalid response/.test(e.message));
  });

  it('the timeout is the call deadline', async () => {
    backend.answers.Subscribe = async () => {
      await sleep(600);
      return {};
    };
    const started = Date.now();
    await assert.rejects(make({ timeoutMs: 150 }).subscribe({ ...client, channel: 'c' }), (e: unknown) => e instanceof ProxyCallError && /timed out/.test(e.message));
    assert.ok(Date.now() - started < 600, 'the call gave up at its deadline');
  });

  it('a backend that is down is a ProxyCallError', async () => {
    const down = new GrpcBackend();
    await down.start();
    const target = down.target;
    await down.stop();
    const p = make({ endpoint: target, timeoutMs: 500 });
    await assert.rejects(p.rpc({ ...client, method: 'm', data: enc('1') }), ProxyCallError);
    await assert.rejects(p.connect(client), ProxyCallError);
  });

  it('forwards listed headers as metadata: static < emulated < transport, credentials last; managed names never', async () => {
    const p = make({
      httpHeaders: ['Authorization', 'X-Real', 'Host'],
      grpcMetadata: ['x-meta'],
      emulatedHeaders: ['x-emulated', 'authorization'],
      staticMetadata: { 'X-Static': 's', authorization: 'static', 'x-real': 'static' },
      credentialsKey: 'X-Api-Key',
      credentialsValue: 'secret',
    });
    await p.rpc({ ...client, method: 'm', data: enc('1') });
    const md = backend.last('RPC').metadata;
    assert.equal(md['x-static'], 's');
    assert.equal(md['x-emulated'], 'em');
    assert.equal(md.authorization, 'Bearer t', 'a transport header wins over emulated and static ones');
    assert.equal(md['x-real'], 'transport');
    assert.equal(md['x-meta'], 'm', 'grpc_metadata names are forwarded too');
    assert.equal(md['x-api-key'], 'secret');
    assert.equal(md.cookie, undefined, 'unlisted headers stay behind');
    assert.notEqual(md.host, 'gyre', 'host is never forwarded');
  });

  it('gzip compression when configured (fewer bytes on the wire for a compressible payload)', async () => {
    backend.answers.RPC = (req) => ({ result: { data: req.data } });
    const big = enc(JSON.stringify({ pad: 'x'.repeat(20000) }));
    const sent = async (compression: boolean): Promise<number> => {
      const r = await byteCountingRelay(backend.port);
      try {
        const p = make({ endpoint: `grpc://127.0.0.1:${r.port}`, compression });
        assert.equal(text(await p.rpc({ ...client, method: 'm', data: big })), text(big));
        await p.close();
        return r.bytesUp();
      } finally {
        await r.close();
      }
    };
    const plain = await sent(false);
    const gzipped = await sent(true);
    assert.ok(plain > 20000, `plain request carried ${plain} bytes`);
    assert.ok(gzipped < 5000, `gzip request carried ${gzipped} bytes`);
  });

  describe('subscribe streams', () => {
    it('unidirectional: first message decides, later publications wait for start() and arrive in order; end is reported', async () => {
      let finish!: () => void;
      backend.stream = ({ send, end }) => {
        send({ subscribe_response: { result: { data: Buffer.from('{"welcome":1}'), info: Buffer.from('{"ci":1}') } } });
        send({ publication: { data: Buffer.from('{"n":1}'), tags: { k: 'v' } } });
        send({ publication: { data: Buffer.from('{"n":2}') } });
        finish = end;
      };
      const s = await make().subscribeStream({ ...client, channel: 'stream:1', data: enc('{"q":1}'), bidirectional: false });
      const req = backend.last('SubscribeUnidirectional').request;
      assert.deepEqual([req.channel, req.user, text(req.data)], ['stream:1', 'u-1', '{"q":1}']);
      assert.equal(text(s.result.data), '{"welcome":1}');
      assert.equal(text(s.result.info), '{"ci":1}');
      await sleep(50);
      const got: StreamPublication[] = [];
      let ended: unknown = 'no';
      s.start({ publication: (p) => got.push(p), end: (err) => (ended = err) });
      await until(() => got.length === 2, 'two publications');
      assert.deepEqual(got.map((p) => [text(p.data), p.tags]), [['{"n":1}', { k: 'v' }], ['{"n":2}', undefined]]);
      assert.equal(ended, 'no');
      finish();
      await until(() => ended !== 'no', 'end');
      assert.equal(ended, undefined, 'a clean end carries no error');
    });

    it('a stream that breaks reports a ProxyCallError; an end before start() is reported by start()', async () => {
      backend.stream = ({ send, fail }) => {
        send({ subscribe_response: {} });
        setTimeout(() => fail(grpc.status.UNAVAILABLE, 'backend restarting'), 20);
      };
      const s = await make().subscribeStream({ ...client, channel: 's', bidirectional: false });
      await sleep(100);
      let ended: unknown = 'no';
      s.start({ publication: () => undefined, end: (err) => (ended = err) });
      await until(() => ended !== 'no', 'end');
      assert.ok(ended instanceof ProxyCallError, String(ended));
    });

    it("the first message's error and disconnect pass through; anything but subscribe_response fails", async () => {
      const p = make();
      backend.stream = ({ send }) => send({ subscribe_response: { error: { code: 1001, message: 'no stream' } } });
      await assert.rejects(p.subscribeStream({ ...client, channel: 's', bidirectional: false }), (e: unknown) => e instanceof ProtocolError && e.code === 1001);
      backend.stream = ({ send }) => send({ subscribe_response: { disconnect: { code: 4502, reason: 'out' } } });
      await assert.rejects(p.subscribeStream({ ...client, channel: 's', bidirectional: true }), (e: unknown) => e instanceof Disconnect && e.code === 4502);
      backend.stream = ({ send }) => send({ publication: { data: Buffer.from('1') } });
      await assert.rejects(p.subscribeStream({ ...client, channel: 's', bidirectional: false }), (e: unknown) => e instanceof ProxyCallError && /subscribe_response/.test(e.message));
      backend.stream = ({ end }) => end();
      await assert.rejects(p.subscribeStream({ ...client, channel: 's', bidirectional: false }), ProxyCallError);
      await until(() => backend.openStreams === 0, 'refused streams closed on the backend');
    });

    it('the timeout bounds the wait for the first message', async () => {
      backend.stream = () => undefined;
      await assert.rejects(make({ timeoutMs: 150 }).subscribeStream({ ...client, channel: 's', bidirectional: false }), (e: unknown) => e instanceof ProxyCallError && /first message/.test(e.message));
      await until(() => backend.openStreams === 0, 'the stream cancelled on the backend');
    });

    it('bidirectional: the subscribe_request first, then client publications; close() cancels the backend stream', async () => {
      let received: Record<string, any>[] = [];
      let closed: Promise<void> | undefined;
      backend.stream = (ctx) => {
        received = ctx.received;
        closed = ctx.closed;
        ctx.send({ subscribe_response: {} });
      };
      const s = await make({ staticMetadata: { 'x-s': '1' } }).subscribeStream({ ...client, channel: 'bidi:1', bidirectional: true });
      const first = backend.last('SubscribeBidirectional');
      assert.equal(first.request.subscribe_request?.channel, 'bidi:1');
      assert.equal(first.metadata['x-s'], '1', 'streams carry the metadata too');
      s.start({ publication: () => undefined, end: () => assert.fail('close() is not reported as an end') });
      s.publish(enc('{"up":1}'));
      s.publish(enc('{"up":2}'));
      await until(() => received.length === 2, 'client publications on the backend');
      assert.deepEqual(received.map((m) => text(m.publication?.data)), ['{"up":1}', '{"up":2}']);
      assert.equal(received[0]?.subscribe_request, undefined);
      assert.equal(backend.openStreams, 1);
      s.close();
      await closed;
      assert.equal(backend.openStreams, 0);
      assert.throws(() => s.publish(enc('1')), ProxyCallError);
    });

    it('a unidirectional stream refuses publish; closing the proxy cancels its open streams', async () => {
      const p = make();
      const s = await p.subscribeStream({ ...client, channel: 's', bidirectional: false });
      assert.throws(() => s.publish(enc('1')), ProxyCallError);
      await until(() => backend.openStreams === 1, 'stream open');
      await p.close();
      await until(() => backend.openStreams === 0, 'stream cancelled by close');
    });
  });
});

describe('GrpcProxy over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-grpc-tls-'));
  const backend = new GrpcBackend();
  let cert = '';
  let key = '';
  before(async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gyre-test-backend',
      '-addext', 'subjectAltName=DNS:gyre-test-backend,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    key = readFileSync(join(dir, 'key.pem'), 'utf8');
    await backend.start({ cert, key });
    backend.answers.RPC = () => ({ result: { data: Buffer.from('"tls"') } });
  });
  after(async () => {
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (o: Partial<GrpcProxyOptions>): Promise<string | undefined> => {
    const p = new GrpcProxy({ name: 'tls', endpoint: backend.target, timeoutMs: 1500, ...o });
    try {
      return text(await p.rpc({ ...client, method: 'm', data: enc('1') }));
    } finally {
      await p.close();
    }
  };

  it('trusts the configured CA', async () => {
    assert.equal(await call({ tls: { ca: cert } }), '"tls"');
  });

  it('checks the server name against servername', async () => {
    assert.equal(await call({ tls: { ca: cert, servername: 'gyre-test-backend' } }), '"tls"');
    await assert.rejects(call({ tls: { ca: cert, servername: 'someone-else' } }), ProxyCallError);
  });

  it('refuses an unknown certificate, unless verification is off', async () => {
    await assert.rejects(call({ tls: {} }), ProxyCallError);
    assert.equal(await call({ tls: { rejectUnauthorized: false } }), '"tls"');
  });

  it('a plaintext client does not reach a TLS backend', async () => {
    await assert.rejects(call({}), ProxyCallError);
  });
});
