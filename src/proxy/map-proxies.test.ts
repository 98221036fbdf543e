/**
 * The map publish / map remove hooks of both proxy clients against real backends on loopback:
 * request shapes (HTTP JSON and GRPC messages), result fields, and the outcomes every hook
 * shares (disconnect over error over result; failures as ProxyCallError).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ProxyCallError, type ProxyClient } from '../core/proxy-ports.js';
import { Disconnect, ProtocolError } from '../protocol/codes.js';
import { GrpcBackend } from './grpc-backend.test-helper.js';
import { GrpcProxy, HttpProxy } from './index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** A result as plain JSON (tag maps have a null prototype; payload bytes are checked apart). */
const plain = (o: object): unknown => JSON.parse(JSON.stringify({ ...o, data: undefined }));
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

const anonymous: ProxyClient = { client: 'c-1', transport: 'websocket', protocol: 'json', user: '', headers: { 'x-app': 'a1' } };
const user: ProxyClient = { ...anonymous, user: 'u-7', meta: enc('{"m":1}') };

/** An HTTP backend recording request bodies and answering with the current `answer`. */
class HttpBackend {
  bodies: string[] = [];
  headers: Record<string, string | string[] | undefined>[] = [];
  answer: { status: number; body: string } = { status: 200, body: '{}' };
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.bodies.push(Buffer.concat(chunks).toString('utf8'));
        this.headers.push(req.headers);
        res.writeHead(this.answer.status, { 'content-type': 'application/json' });
        res.end(this.answer.body);
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/map`;
  }

  last(): Record<string, unknown> {
    const b = this.bodies.at(-1);
    assert.ok(b !== undefined, 'backend received nothing');
    return JSON.parse(b) as Record<string, unknown>;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

describe('HttpProxy map hooks', () => {
  const backend = new HttpBackend();
  let proxy: HttpProxy;
  before(async () => {
    await backend.start();
    proxy = new HttpProxy({ name: 'maps', endpoint: backend.url, timeoutMs: 1000, httpHeaders: ['x-app'], includeConnectionMeta: true });
  });
  after(async () => {
    await proxy.close();
    await backend.stop();
  });
  afterEach(() => {
    backend.answer = { status: 200, body: '{}' };
  });

  it('sends map_publish with raw data, key and meta; user left out when empty', async () => {
    await proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k1', data: enc('{"v":1}') });
    assert.deepEqual(backend.last(), { client: 'c-1', transport: 'websocket', protocol: 'json', encoding: 'json', channel: 'kv:a', key: 'k1', data: { v: 1 } });
    assert.equal(backend.headers.at(-1)?.['x-app'], 'a1');
    await proxy.mapPublish({ ...user, channel: 'kv:a', key: 'k1', data: enc('2') });
    const body = backend.last();
    assert.equal(body.user, 'u-7');
    assert.deepEqual(body.meta, { m: 1 });
    assert.equal(body.data, 2);
  });

  it('sends map_remove without data', async () => {
    await proxy.mapRemove({ ...user, channel: 'kv:a', key: 'gone' });
    assert.deepEqual(backend.last(), {
      client: 'c-1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: 'u-7',
      channel: 'kv:a',
      key: 'gone',
      meta: { m: 1 },
    });
  });

  it('reads every map_publish result field; an absent result changes nothing', async () => {
    assert.deepEqual(await proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') }), {});
    backend.answer = {
      status: 200,
      body: '{"result":{"key":"k2","data":{"big":12345678901234567890},"tags":{"t":"1"},"key_mode":"if_new","idempotency_key":"i1","delta":true,"version":7,"version_epoch":"e","score":3,"b64stream_data":"AA=="}}',
    };
    const r = await proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') });
    assert.equal(text(r.data), '{"big":12345678901234567890}');
    assert.deepEqual(plain(r), {
      key: 'k2',
      tags: { t: '1' },
      keyMode: 'if_new',
      idempotencyKey: 'i1',
      delta: true,
      version: 7,
      versionEpoch: 'e',
    });
    backend.answer = { status: 200, body: '{"result":{"b64data":"eyJ4IjoxfQ=="}}' };
    assert.equal(text((await proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') })).data), '{"x":1}');
  });

  it('reads the map_remove result', async () => {
    backend.answer = { status: 200, body: '{"result":{"key":"other","tags":{"why":"gc"},"idempotency_key":"r1"}}' };
    assert.deepEqual(plain(await proxy.mapRemove({ ...anonymous, channel: 'kv:a', key: 'k' })), { key: 'other', tags: { why: 'gc' }, idempotencyKey: 'r1' });
  });

  it('passes disconnect over error over result, and fails on bad answers', async () => {
    backend.answer = { status: 200, body: '{"error":{"code":1001,"message":"no"},"disconnect":{"code":4501,"reason":"bye"},"result":{}}' };
    await assert.rejects(proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') }), (e: unknown) => e instanceof Disconnect && e.code === 4501);
    backend.answer = { status: 200, body: '{"error":{"code":1001,"message":"no"},"result":{}}' };
    await assert.rejects(proxy.mapRemove({ ...anonymous, channel: 'kv:a', key: 'k' }), (e: unknown) => e instanceof ProtocolError && e.code === 1001);
    backend.answer = { status: 200, body: '{"result":{"key_mode":"sometimes"}}' };
    await assert.rejects(proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') }), (e: unknown) => e instanceof ProxyCallError && /map_publish/.test(e.message));
    backend.answer = { status: 500, body: '' };
    await assert.rejects(proxy.mapRemove({ ...anonymous, channel: 'kv:a', key: 'k' }), (e: unknown) => e instanceof ProxyCallError && /map_remove/.test(e.message));
  });

  it('sends b64data with binary encoding', async () => {
    const bin = new HttpProxy({ name: 'bin', endpoint: backend.url, timeoutMs: 1000, binaryEncoding: true });
    try {
      await bin.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: new Uint8Array([0, 255]) });
      const body = backend.last();
      assert.equal(body.encoding, 'binary');
      assert.equal(body.b64data, 'AP8=');
      assert.equal(body.data, undefined);
    } finally {
      await bin.close();
    }
  });
});

describe('GrpcProxy map hooks', () => {
  const backend = new GrpcBackend();
  let proxy: GrpcProxy;
  before(async () => {
    await backend.start();
    proxy = new GrpcProxy({ name: 'maps', endpoint: backend.target, timeoutMs: 1000, includeConnectionMeta: true });
  });
  after(async () => {
    await proxy.close();
    await backend.stop();
  });
  afterEach(() => backend.reset());

  it('calls MapPublish with key and data bytes; user only when set', async () => {
    await proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k1', data: enc('{"v":1}') });
    const req = backend.last('MapPublish').request;
    assert.equal(req.client, 'c-1');
    assert.equal(req.channel, 'kv:a');
    assert.equal(req.key, 'k1');
    assert.equal(text(req.data), '{"v":1}');
    assert.equal(req.encoding, 'json');
    assert.equal(req.user, undefined);
    await proxy.mapPublish({ ...user, channel: 'kv:a', key: 'k1', data: enc('1') });
    assert.equal(backend.last('MapPublish').request.user, 'u-7');
    assert.equal(text(backend.last('MapPublish').request.meta), '{"m":1}');
  });

  it('reads MapPublishResult fields', async () => {
    backend.answers.MapPublish = () => ({
      result: { key: 'k2', data: Buffer.from('"new"'), tags: { t: '1' }, key_mode: 'if_exists', idempotency_key: 'i', delta: true, version: 9, version_epoch: 'x', score: 1 },
    });
    const r = await proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') });
    assert.equal(text(r.data), '"new"');
    assert.deepEqual(plain(r), { key: 'k2', tags: { t: '1' }, keyMode: 'if_exists', idempotencyKey: 'i', delta: true, version: 9, versionEpoch: 'x' });
  });

  it('calls MapRemove and reads its result', async () => {
    backend.answers.MapRemove = () => ({ result: { key: 'k3', tags: { a: 'b' }, idempotency_key: 'r' } });
    const r = await proxy.mapRemove({ ...user, channel: 'kv:a', key: 'k' });
    assert.deepEqual(plain(r), { key: 'k3', tags: { a: 'b' }, idempotencyKey: 'r' });
    const req = backend.last('MapRemove').request;
    assert.equal(req.key, 'k');
    assert.equal(req.user, 'u-7');
    assert.equal(req.data, undefined);
  });

  it('passes disconnect over error, and fails on GRPC errors', async () => {
    backend.answers.MapRemove = () => ({ error: { code: 1002, message: 'nope' }, disconnect: { code: 4502, reason: 'out' } });
    await assert.rejects(proxy.mapRemove({ ...anonymous, channel: 'kv:a', key: 'k' }), (e: unknown) => e instanceof Disconnect && e.code === 4502);
    backend.answers.MapPublish = () => ({ error: { code: 1002, message: 'nope' } });
    await assert.rejects(proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') }), (e: unknown) => e instanceof ProtocolError && e.code === 1002);
    backend.answers.MapPublish = () => ({ grpcError: grpc.status.UNAVAILABLE });
    await assert.rejects(proxy.mapPublish({ ...anonymous, channel: 'kv:a', key: 'k', data: enc('1') }), (e: unknown) => e instanceof ProxyCallError && /map_publish/.test(e.message));
  });
});
