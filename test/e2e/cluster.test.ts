/**
 * Two Gyre processes joined through a real broker: the Redis engine (pub/sub, history,
 * presence, control) and the NATS broker (pub/sub, control). Clients on one node see
 * publications, presence, joins and server API commands issued through the other.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { apiResult } from '../helpers/api.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitEvent, waitFor } from '../helpers/wait.js';

const API_KEY = 'cluster-key';

function nodeConfig(broker: Record<string, unknown>): Record<string, unknown> {
  return {
    ...broker,
    client: { insecure: true },
    http_api: { key: API_KEY },
    http_stream: { enabled: true },
    channel: {
      without_namespace: {
        presence: true,
        join_leave: true,
        force_push_join_leave: true,
        history_size: 100,
        history_ttl: '300s',
        force_recovery: true,
      },
    },
  };
}

function sdk(url: string, opts: Record<string, unknown> = {}): Centrifuge {
  const c = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 300, ...opts });
  c.on('error', () => undefined);
  return c;
}

async function subscribedSub(c: Centrifuge, channel: string) {
  const sub = c.newSubscription(channel);
  const ready = waitEvent(sub, 'subscribed');
  sub.subscribe();
  if (c.state === 'disconnected') c.connect();
  return { sub, ctx: await ready };
}

async function bothNodesKnown(a: GyreProcess, b: GyreProcess): Promise<void> {
  for (const n of [a, b]) {
    await waitFor(async () => (await apiResult(n.apiUrl, API_KEY, 'info', {})).nodes.length === 2, `${n.base} sees two nodes`, 10_000);
  }
}

describe('two nodes on the Redis engine', () => {
  let a: GyreProcess;
  let b: GyreProcess;
  const clients: Centrifuge[] = [];
  const prefix = `gyre-e2e-${randomUUID().slice(0, 8)}`;

  before(async () => {
    const cfg = nodeConfig({ engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } } });
    [a, b] = await Promise.all([startGyre(cfg), startGyre(cfg)]);
    await bothNodesKnown(a, b);
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('a publication through one node API reaches a subscriber on the other, with history offsets', async () => {
    const c = sdk(a.wsUrl);
    clients.push(c);
    const channel = `news-${randomUUID()}`;
    const { sub } = await subscribedSub(c, channel);
    const got = waitEvent<{ data: unknown; offset?: number }>(sub, 'publication');
    const res = await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { hello: 'cluster' } });
    assert.equal(res.offset, 1);
    const pub = await got;
    assert.deepEqual(pub.data, { hello: 'cluster' });
    assert.equal(pub.offset, 1);
  });

  it('presence, joins and channels are cluster-wide', async () => {
    const channel = `room-${randomUUID()}`;
    const ca = sdk(a.wsUrl);
    const cb = sdk(b.wsUrl);
    clients.push(ca, cb);
    const { sub: subA } = await subscribedSub(ca, channel);
    const joined = waitEvent<{ info: { client: string } }>(subA, 'join', { pred: (j) => j.info.client !== (ca as unknown as { _client: string })._client });
    await subscribedSub(cb, channel);
    await joined;
    const stats = await apiResult(a.apiUrl, API_KEY, 'presence_stats', { channel });
    assert.equal(stats.num_clients, 2);
    const chans = await apiResult(b.apiUrl, API_KEY, 'channels', { pattern: channel });
    assert.deepEqual(chans.channels[channel], { num_clients: 2 });
  });

  it('recovery after reconnecting to the other node returns the missed publications', async () => {
    const channel = `rec-${randomUUID()}`;
    const c = sdk(a.wsUrl);
    clients.push(c);
    const { sub } = await subscribedSub(c, channel);
    await apiResult(a.apiUrl, API_KEY, 'publish', { channel, data: { n: 1 } });
    await waitFor(async () => (await sub.history({ limit: 0 })).offset === 1, 'first publication stored');
    c.disconnect();
    await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { n: 2 } });
    await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { n: 3 } });
    // Same subscription object, reconnecting to the other node: the SDK asks to recover.
    const seen: unknown[] = [];
    sub.on('publication', (ctx) => seen.push(ctx.data));
    const resubscribed = waitEvent<{ recovered: boolean; wasRecovering: boolean }>(sub, 'subscribed');
    (c as unknown as { _endpoint: string })._endpoint = b.wsUrl;
    c.connect();
    const ctx = await resubscribed;
    assert.equal(ctx.wasRecovering, true);
    assert.equal(ctx.recovered, true);
    await waitFor(() => seen.length >= 2, 'recovered publications');
    assert.deepEqual(seen, [{ n: 2 }, { n: 3 }]);
  });

  it('server API disconnect and unsubscribe issued on one node reach connections on the other', async () => {
    const channel = `cmd-${randomUUID()}`;
    const c = sdk(a.wsUrl);
    clients.push(c);
    const { sub } = await subscribedSub(c, channel);
    const clientId = (c as unknown as { _client: string })._client;
    const unsubscribed = waitEvent<{ code: number }>(sub, 'unsubscribed');
    await apiResult(b.apiUrl, API_KEY, 'unsubscribe', { user: '', client: clientId, channel });
    assert.equal((await unsubscribed).code, 2000);
    const gone = waitEvent<{ code: number }>(c, 'disconnected');
    await apiResult(b.apiUrl, API_KEY, 'disconnect', { user: '', client: clientId });
    assert.equal((await gone).code, 3503);
  });

  it('emulation commands posted to the other node are forwarded to the session owner', async () => {
    const channel = `emu-${randomUUID()}`;
    const c = sdk([{ transport: 'http_stream', endpoint: `${a.base}/connection/http_stream` }] as unknown as string, {
      emulationEndpoint: `${b.base}/emulation`,
    });
    clients.push(c);
    const { sub } = await subscribedSub(c, channel);
    const got = waitEvent<{ data: unknown }>(sub, 'publication');
    await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { via: 'emulation' } });
    assert.deepEqual((await got).data, { via: 'emulation' });
  });
});

describe('two nodes on the NATS broker', () => {
  let a: GyreProcess;
  let b: GyreProcess;
  const clients: Centrifuge[] = [];

  before(async () => {
    const cfg = nodeConfig({
      broker: { enabled: true, type: 'nats', nats: { url: 'nats://127.0.0.1:4222', prefix: `gyre-e2e-${randomUUID().slice(0, 8)}` } },
    });
    // NATS keeps no history, so these channels ask for none.
    const c = cfg.channel as { without_namespace: Record<string, unknown> };
    c.without_namespace = { allow_subscribe_for_client: true };
    [a, b] = await Promise.all([startGyre(cfg), startGyre(cfg)]);
    await bothNodesKnown(a, b);
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('pub/sub crosses nodes and info lists both', async () => {
    const c = sdk(a.wsUrl);
    clients.push(c);
    const channel = `nats-${randomUUID()}`;
    const { sub } = await subscribedSub(c, channel);
    const got = waitEvent<{ data: unknown }>(sub, 'publication');
    await apiResult(b.apiUrl, API_KEY, 'publish', { channel, data: { over: 'nats' } });
    assert.deepEqual((await got).data, { over: 'nats' });
    const info = await apiResult(b.apiUrl, API_KEY, 'info', {});
    assert.equal(info.nodes.length, 2);
  });
});
