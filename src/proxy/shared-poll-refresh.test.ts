import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ProxyCallError, type SharedPollRefreshProxy } from '../core/proxy-ports.js';
import { SharedPollEngine, type SharedPollPublication } from '../core/shared-poll/engine.js';
import { sharedPollChannelConfig } from '../core/shared-poll/options.js';
import { signTrack, TrackSignatureVerifier } from '../core/shared-poll/signature.js';
import { TimerWheel } from '../core/timer-wheel.js';
import { GrpcBackend } from './grpc-backend.test-helper.js';
import { GrpcProxy, HttpProxy } from './index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

type Handler = (res: ServerResponse, body: string) => void;

/** A real HTTP backend on 127.0.0.1; `handler` answers, per channel when it likes. */
class HttpBackend {
  readonly received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  handler: Handler = (res) => res.end('{}');
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.received.push({ path: req.url ?? '', headers: req.headers, body });
        this.handler(res, body);
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/refresh`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const json = (status: number, body: string): Handler => (res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
};

describe('HttpProxy.sharedPollRefresh', () => {
  const backend = new HttpBackend();
  const proxies: HttpProxy[] = [];
  const make = (timeoutMs = 2000): HttpProxy => {
    const p = new HttpProxy({ name: 'poll', endpoint: backend.url, timeoutMs, staticHeaders: { 'X-Static': 's' }, httpHeaders: ['cookie'] });
    proxies.push(p);
    return p;
  };
  before(() => backend.start());
  after(() => backend.stop());
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    backend.received.length = 0;
    backend.handler = (res) => res.end('{}');
  });

  it('POSTs channel and items, versions of 0 left out, with static headers only', async () => {
    await make().sharedPollRefresh({ channel: 'poll:p1', items: [{ key: 'k1', version: 0 }, { key: 'k2', version: 3 }] });
    const r = backend.received.at(-1)!;
    assert.equal(r.path, '/refresh');
    assert.equal(r.body, '{"channel":"poll:p1","items":[{"key":"k1"},{"key":"k2","version":3}]}');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-static'], 's');
  });

  it('reads items with their data and prev_data byte for byte, removals and the epoch', async () => {
    backend.handler = json(
      200,
      '{"result":{"items":[{"key":"k1","data":{"value": 1.50, "big": 12345678901234567890},"version":7,"prev_data":[1,2]},' +
        '{"key":"k2","removed":true},{"key":"k3","data":null},{"data":"no key"}],"epoch":"v7"}}',
    );
    const r = await make().sharedPollRefresh({ channel: 'poll:p1', items: [{ key: 'k1', version: 0 }] });
    assert.equal(r.epoch, 'v7');
    assert.equal(r.items.length, 3, 'an item without key is skipped');
    const [k1, k2, k3] = r.items;
    assert.equal(k1!.key, 'k1');
    assert.equal(text(k1!.data), '{"value": 1.50, "big": 12345678901234567890}');
    assert.equal(text(k1!.prevData), '[1,2]');
    assert.equal(k1!.version, 7);
    assert.equal(k1!.removed, false);
    assert.deepEqual([k2!.key, k2!.removed, k2!.data], ['k2', true, undefined]);
    assert.equal(text(k3!.data), 'null');
  });

  it('an absent or empty result is an empty answer', async () => {
    const p = make();
    backend.handler = json(200, '{}');
    assert.deepEqual(await p.sharedPollRefresh({ channel: 'c', items: [{ key: 'k', version: 0 }] }), { items: [], epoch: '' });
    backend.handler = json(200, '{"result":{}}');
    assert.deepEqual(await p.sharedPollRefresh({ channel: 'c', items: [{ key: 'k', version: 0 }] }), { items: [], epoch: '' });
  });

  it('500, garbage, a backend error, a wrong shape and a hang each fail the call; the next one works', async () => {
    const p = make(300);
    const req = { channel: 'c', items: [{ key: 'k', version: 0 }] };
    const bad: [string, Handler][] = [
      ['500', json(500, '{"result":{"items":[]}}')],
      ['garbage', json(200, '<html>oops')],
      ['error', json(200, '{"error":{"code":1000,"message":"nope"}}')],
      ['disconnect', json(200, '{"disconnect":{"code":4000,"reason":"x"}}')],
      ['items not a list', json(200, '{"result":{"items":{"key":"k"}}}')],
      ['version not a number', json(200, '{"result":{"items":[{"key":"k","version":"1"}]}}')],
      ['hang', () => undefined],
    ];
    for (const [what, handler] of bad) {
      backend.handler = handler;
      await assert.rejects(p.sharedPollRefresh(req), (err) => err instanceof ProxyCallError && err.message.includes('shared_poll_refresh'), what);
    }
    backend.handler = json(200, '{"result":{"items":[{"key":"k","data":1,"version":1}]}}');
    const r = await p.sharedPollRefresh(req);
    assert.equal(text(r.items[0]!.data), '1');
  });
});

describe('GrpcProxy.sharedPollRefresh', () => {
  const backend = new GrpcBackend();
  const proxies: GrpcProxy[] = [];
  const make = (timeoutMs = 2000): GrpcProxy => {
    const p = new GrpcProxy({ name: 'poll', endpoint: backend.target, timeoutMs, staticMetadata: { 'x-static': 's' } });
    proxies.push(p);
    return p;
  };
  before(() => backend.start());
  after(() => backend.stop());
  afterEach(async () => {
    backend.reset();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  it('calls SharedPollRefresh with channel and items, and reads the result', async () => {
    backend.answers.SharedPollRefresh = () => ({
      result: {
        items: [
          { key: 'k1', data: Buffer.from('{"v":1}'), version: 3, prev_data: Buffer.from('{"v":0}') },
          { key: 'k2', removed: true },
        ],
        epoch: 'e1',
      },
    });
    const r = await make().sharedPollRefresh({ channel: 'poll:p1', items: [{ key: 'k1', version: 2 }, { key: 'k2', version: 0 }] });
    const call = backend.last('SharedPollRefresh');
    assert.equal(call.request.channel, 'poll:p1');
    assert.deepEqual(
      call.request.items.map((i: { key: string; version?: number }) => [i.key, i.version ?? 0]),
      [
        ['k1', 2],
        ['k2', 0],
      ],
    );
    assert.equal(call.metadata['x-static'], 's');
    assert.equal(r.epoch, 'e1');
    assert.equal(text(r.items[0]!.data), '{"v":1}');
    assert.equal(text(r.items[0]!.prevData), '{"v":0}');
    assert.equal(r.items[0]!.version, 3);
    assert.deepEqual([r.items[1]!.key, r.items[1]!.removed], ['k2', true]);
  });

  it('a backend error, a GRPC error status and a deadline each fail the call', async () => {
    const p = make(300);
    const req = { channel: 'c', items: [{ key: 'k', version: 0 }] };
    backend.answers.SharedPollRefresh = () => ({ error: { code: 1000, message: 'nope' } });
    await assert.rejects(p.sharedPollRefresh(req), ProxyCallError);
    backend.answers.SharedPollRefresh = () => ({ grpcError: grpc.status.UNAVAILABLE });
    await assert.rejects(p.sharedPollRefresh(req), ProxyCallError);
    backend.answers.SharedPollRefresh = () => new Promise(() => undefined);
    await assert.rejects(p.sharedPollRefresh(req), /timed out/);
    backend.answers.SharedPollRefresh = () => ({});
    assert.deepEqual(await p.sharedPollRefresh(req), { items: [], epoch: '' });
  });
});

describe('the engine on a real HTTP backend', () => {
  const backend = new HttpBackend();
  before(() => backend.start());
  after(() => backend.stop());

  it('a channel whose backend answers garbage, 500 or hangs fails only its own polls, logged once', async () => {
    const wheel = new TimerWheel(20);
    const good = new HttpProxy({ name: 'good', endpoint: backend.url, timeoutMs: 300 });
    const warnings: string[] = [];
    const failing = new Map<string, Handler>([
      ['poll:garbage', json(200, 'not json')],
      ['poll:500', json(500, '')],
      ['poll:hang', () => undefined],
    ]);
    const versions = new Map<string, number>();
    backend.handler = (res, body) => {
      const req = JSON.parse(body) as { channel: string; items: { key: string }[] };
      const special = failing.get(req.channel);
      if (special) return special(res, body);
      const v = (versions.get(req.channel) ?? 0) + 1;
      versions.set(req.channel, v);
      json(200, JSON.stringify({ result: { items: req.items.map((i) => ({ key: i.key, data: { n: v }, version: v })) } }))(res, body);
    };
    const engine = new SharedPollEngine({
      clock: { now: () => Date.now() },
      scheduler: wheel,
      verifier: new TrackSignatureVerifier({ secret: 's' }),
      proxy: (): SharedPollRefreshProxy => good,
      logger: { trace() {}, debug() {}, info() {}, warn: (o: object) => void warnings.push(JSON.stringify(o)), error() {} },
    });
    const config = sharedPollChannelConfig({ mode: 'versioned', refresh_interval: 100 });
    const got = new Map<string, SharedPollPublication[]>();
    const channels = ['poll:garbage', 'poll:500', 'poll:hang', 'poll:ok'];
    const subs = channels.map((ch) => {
      const list: SharedPollPublication[] = [];
      got.set(ch, list);
      return { user: '', deliver: (_c: string, p: SharedPollPublication) => void list.push(p), resetState() {} };
    });
    try {
      channels.forEach((ch, i) => {
        const signature = signTrack('s', { iat: 1, exp: 0, user: '', channel: ch, keys: ['k'] });
        engine.track(subs[i]!, ch, config, { track: [{ signature, items: [{ key: 'k' }] }] });
      });
      const deadline = Date.now() + 5000;
      while ((got.get('poll:ok')?.length ?? 0) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(got.get('poll:ok')!.length >= 5, 'the healthy channel kept getting versions');
      assert.deepEqual(
        got.get('poll:ok')!.map((p) => p.version),
        got.get('poll:ok')!.map((_, i) => i + 1),
      );
      for (const ch of ['poll:garbage', 'poll:500', 'poll:hang']) assert.deepEqual(got.get(ch), [], ch);
      const garbageCalls = backend.received.filter((r) => r.body.includes('poll:garbage')).length;
      assert.ok(garbageCalls >= 3, `failed polls are retried each cycle (${garbageCalls})`);
      for (const ch of ['poll:garbage', 'poll:500', 'poll:hang']) {
        assert.equal(warnings.filter((w) => w.includes(ch)).length, 1, `${ch} warned once for its burst`);
      }
    } finally {
      engine.close();
      wheel.close();
      await good.close();
    }
  });
});
