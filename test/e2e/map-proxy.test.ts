/**
 * Map publish and map remove proxies against a real Gyre process and a node:http backend: the
 * official SDK's map subscriptions write through the backend, which allows a write as sent,
 * rewrites it (key, payload, tags), or refuses it with its own error; a backend that fails
 * answers 100. The proxies replace the namespace's allow_* rules (there are none here), and
 * bind through the `channel.proxy.map_publish` block and a named `proxies[]` entry. A GRPC
 * backend serves the same hooks through MapPublish / MapRemove.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { GrpcBackend, type Msg } from '../../src/proxy/grpc-backend.test-helper.js';
import { SdkClients } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'map-proxy-secret';

type MapSub = ReturnType<Centrifuge['newMapSubscription']>;

interface Call {
  path: string;
  body: any;
}

/** The backend's decision for one hook call, by the key the client sent. */
function decide(path: string, body: any): { status: number; json?: unknown } {
  if (body.key === 'broken') return { status: 500 };
  if (path === '/map_publish') {
    if (body.key === 'deny') return { status: 200, json: { error: { code: 1000, message: 'not your key' } } };
    if (body.key === 'rewrite') return { status: 200, json: { result: { key: 'rewritten', data: { original: body.data, by: body.user }, tags: { via: 'backend' } } } };
    return { status: 200, json: { result: {} } };
  }
  if (body.key === 'keep') return { status: 200, json: { error: { code: 1001, message: 'must stay' } } };
  if (body.key === 'alias') return { status: 200, json: { result: { key: 'real' } } };
  return { status: 200, json: {} };
}

async function mapSubscribed(client: Centrifuge, channel: string): Promise<MapSub> {
  const sub = client.newMapSubscription(channel, {});
  sub.on('error', () => undefined);
  const ready = waitEvent(sub, 'subscribed');
  sub.subscribe();
  await ready;
  return sub;
}

describe('map publish and remove proxies with the official SDK', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let backend: http.Server;
  let sdk: SdkClients;
  const calls: Call[] = [];
  const client = async (user: string) => sdk.connected({ token: await hmacToken(SECRET, { sub: user }) });

  before(async () => {
    backend = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        const path = req.url ?? '';
        const body = JSON.parse(text);
        calls.push({ path, body });
        const d = decide(path, body);
        res.writeHead(d.status, { 'content-type': 'application/json' });
        res.end(d.json === undefined ? '' : JSON.stringify(d.json));
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { token: { hmac_secret_key: SECRET } },
      channel: {
        proxy: { map_publish: { endpoint: `${base}/map_publish`, timeout: '2s' } },
        namespaces: [
          {
            name: 'kv',
            subscription_type: 'map',
            map: { mode: 'persistent', publish_proxy_enabled: true, remove_proxy_enabled: true, remove_proxy_name: 'remover' },
            allow_subscribe_for_client: true,
          },
          // No proxies and no allow_* rules: client writes are refused.
          { name: 'plain', subscription_type: 'map', map: { mode: 'persistent' }, allow_subscribe_for_client: true },
        ],
      },
      proxies: [{ name: 'remover', endpoint: `${base}/map_remove`, timeout: '2s' }],
    });
    assert.ok(!gyre.output().includes('not supported'), gyre.output());
    sdk = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    sdk?.closeAll();
    await gyre?.stop();
    backend?.closeAllConnections();
    await new Promise<void>((r) => backend?.close(() => r()));
  });

  it('publishes what the backend allows, as sent or as rewritten, and refuses what it denies', async () => {
    const channel = `kv:${uniq()}`;
    const writer = await client('w1');
    const reader = await client('r1');
    const w = await mapSubscribed(writer, channel);
    const r = await mapSubscribed(reader, channel);
    const seen = collect(r, 'update');

    await w.publish('plain', { n: 1 });
    await waitFor(() => seen.length >= 1, 'the allowed write');
    assert.deepEqual([seen[0].key, seen[0].data, seen[0].info?.user], ['plain', { n: 1 }, 'w1']);
    const sent = calls.filter((c) => c.path === '/map_publish').at(-1)!.body;
    assert.deepEqual([sent.channel, sent.key, sent.data, sent.user, sent.encoding], [channel, 'plain', { n: 1 }, 'w1', 'json']);

    await w.publish('rewrite', { n: 2 });
    await waitFor(() => seen.length >= 2, 'the rewritten write');
    assert.deepEqual([seen[1].key, seen[1].data, seen[1].tags], ['rewritten', { original: { n: 2 }, by: 'w1' }, { via: 'backend' }]);

    await assert.rejects(w.publish('deny', { n: 3 }), (e: any) => e.code === 1000 && e.message === 'not your key');
    await assert.rejects(w.publish('broken', { n: 4 }), (e: any) => e.code === 100);
    // A client that is not subscribed may write too: the backend decides, not the allow_* rules.
    const outsider = await client('o1');
    await outsider.mapPublish(channel, 'outside', { n: 5 });
    await waitFor(() => seen.length >= 3, 'the outsider write');
    assert.deepEqual([seen[2].key, seen[2].data], ['outside', { n: 5 }]);
    assert.equal(seen.length, 3, 'denied and failed writes were not applied');
  });

  it('removes what the backend allows, under the key it names, and keeps what it denies', async () => {
    const channel = `kv:${uniq()}`;
    const writer = await client('w2');
    const reader = await client('r2');
    const w = await mapSubscribed(writer, channel);
    for (const k of ['real', 'keep', 'gone']) await w.publish(k, { k });
    const r = await mapSubscribed(reader, channel);
    const seen = collect(r, 'update');

    await w.remove('gone');
    await waitFor(() => seen.length >= 1, 'the removal');
    assert.deepEqual([seen[0].key, !!seen[0].removed], ['gone', true]);
    const sent = calls.filter((c) => c.path === '/map_remove').at(-1)!.body;
    assert.deepEqual([sent.channel, sent.key, sent.user, sent.data], [channel, 'gone', 'w2', undefined]);

    await w.remove('alias');
    await waitFor(() => seen.length >= 2, 'the aliased removal');
    assert.deepEqual([seen[1].key, !!seen[1].removed], ['real', true]);

    await assert.rejects(w.remove('keep'), (e: any) => e.code === 1001 && e.message === 'must stay');
    await assert.rejects(writer.mapRemove(channel, 'broken'), (e: any) => e.code === 100);
    assert.equal(seen.length, 2, 'the refused removal left the key');
  });

  it('leaves namespaces without the proxies to their allow_* rules', async () => {
    const channel = `plain:${uniq()}`;
    const c = await client('p1');
    await mapSubscribed(c, channel);
    const before = calls.length;
    await assert.rejects(c.mapPublish(channel, 'k', { n: 1 }), (e: any) => e.code === 103);
    await assert.rejects(c.mapRemove(channel, 'k'), (e: any) => e.code === 103);
    assert.equal(calls.length, before, 'no backend call');
  });
});

describe('map publish and remove proxies over GRPC with the official SDK', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let sdk: SdkClients;
  const backend = new GrpcBackend();
  const client = async (user: string) => sdk.connected({ token: await hmacToken(SECRET, { sub: user }) });

  before(async () => {
    await backend.start();
    backend.answers.MapPublish = (r: Msg) =>
      r.key === 'deny'
        ? { error: { code: 1002, message: 'grpc says no' } }
        : { result: { key: `g-${r.key}`, data: Buffer.from(JSON.stringify({ got: JSON.parse(Buffer.from(r.data).toString()), user: r.user })) } };
    backend.answers.MapRemove = (r: Msg) => (r.key === 'keep' ? { disconnect: { code: 4503, reason: 'removal not allowed' } } : { result: { key: `g-${r.key}` } });
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { token: { hmac_secret_key: SECRET } },
      channel: {
        proxy: { map_publish: { endpoint: backend.target, timeout: '2s' }, map_remove: { endpoint: backend.target, timeout: '2s' } },
        namespaces: [{ name: 'gkv', subscription_type: 'map', map: { mode: 'recoverable', key_ttl: '60s', publish_proxy_enabled: true, remove_proxy_enabled: true }, allow_subscribe_for_client: true }],
      },
    });
    assert.ok(!gyre.output().includes('not supported'), gyre.output());
    sdk = new SdkClients(gyre.wsUrl, 'json');
  });
  after(async () => {
    sdk?.closeAll();
    await gyre?.stop();
    await backend.stop();
  });

  it('writes under the key and payload the backend returns, and passes its error and disconnect', async () => {
    const channel = `gkv:${uniq()}`;
    const writer = await client('gw');
    const reader = await client('gr');
    const w = await mapSubscribed(writer, channel);
    const r = await mapSubscribed(reader, channel);
    const seen = collect(r, 'update');
    await w.publish('a', { n: 1 });
    await waitFor(() => seen.length >= 1, 'the rewritten write');
    assert.deepEqual([seen[0].key, seen[0].data], ['g-a', { got: { n: 1 }, user: 'gw' }]);
    const req = backend.last('MapPublish').request;
    assert.deepEqual([req.channel, req.key, req.user], [channel, 'a', 'gw']);
    await assert.rejects(w.publish('deny', 1), (e: any) => e.code === 1002);
    await w.remove('a');
    await waitFor(() => seen.length >= 2, 'the removal');
    assert.deepEqual([seen[1].key, !!seen[1].removed], ['g-a', true]);
    const closed = waitEvent(writer, 'disconnected');
    void w.remove('keep').catch(() => undefined);
    const ctx = await closed;
    assert.equal(ctx.code, 4503);
  });
});
