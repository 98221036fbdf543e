/**
 * Shared poll subscriptions against a real Gyre process, the official SDK (JSON and Protobuf
 * builds) and a node:http refresh backend the test runs. Track signatures are minted here
 * with node:crypto as an application backend would (HMAC-SHA256 over iat, exp, user,
 * channel and the keys' hash). Covered: tracking and receiving versions, untracking,
 * removal, release of a leaving client's keys, a forged signature refused with 103, backend batching (one request per batch of
 * keys per cycle whatever the number of clients), the default channel proxy, and the
 * shared_poll_publish API.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SharedPollSubscription } from 'centrifuge';
import { apiCall } from '../helpers/api.js';
import { SdkClients, type Protocol } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const SECRET = 'e2e-poll-secret';
const API_KEY = 'e2e-api-key';

/** A track signature for an anonymous user, as an application backend mints it. */
function sign(channel: string, keys: string[], secret = SECRET, user = ''): string {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + 3600;
  const keysHash = createHash('sha256').update(keys.join('\0')).digest('hex');
  const mac = createHmac('sha256', secret).update(`${iat}\0${exp}\0${user}\0${channel}\0${keysHash}`).digest('hex');
  return `${iat}:${exp}:${mac}`;
}

interface Item {
  data: unknown;
  version: number;
  removed?: boolean;
}

interface RefreshCall {
  path: string;
  channel: string;
  items: { key: string; version?: number }[];
}

interface Update {
  key: string;
  data: any;
  version?: number;
  removed?: boolean;
}

describe('shared poll subscriptions with the official SDK', { timeout: 120_000 }, () => {
  let gyre: GyreProcess;
  let backend: http.Server;
  /** Per channel, the backend's items by key. */
  const store = new Map<string, Map<string, Item>>();
  const calls: RefreshCall[] = [];
  const clients: Record<Protocol, SdkClients> = {} as Record<Protocol, SdkClients>;

  const itemsOf = (channel: string): Map<string, Item> => {
    let m = store.get(channel);
    if (!m) store.set(channel, (m = new Map()));
    return m;
  };

  before(async () => {
    backend = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(text) as { channel: string; items: { key: string; version?: number }[] };
        calls.push({ path: req.url ?? '', channel: body.channel, items: body.items });
        const known = itemsOf(body.channel);
        const items = [];
        for (const it of body.items) {
          const s = known.get(it.key);
          if (s) items.push({ key: it.key, data: s.data, version: s.version, ...(s.removed ? { removed: true } : {}) });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: { items } }));
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { allow_anonymous_connect_without_token: true },
      http_api: { key: API_KEY },
      shared_poll: { hmac_secret_key: SECRET },
      proxies: [{ name: 'named', endpoint: `${base}/named`, timeout: '2s' }],
      channel: {
        proxy: { shared_poll_refresh: { endpoint: `${base}/default`, timeout: '2s' } },
        namespaces: [
          {
            name: 'poll',
            subscription_type: 'shared_poll',
            allow_subscribe_for_client: true,
            allow_subscribe_for_anonymous: true,
            shared_poll: { proxy_name: 'named', mode: 'versioned', refresh_interval: '300ms', refresh_batch_size: 10, max_keys_per_connection: 10, publish_enabled: true },
          },
          {
            name: 'batch',
            subscription_type: 'shared_poll',
            allow_subscribe_for_client: true,
            allow_subscribe_for_anonymous: true,
            shared_poll: { mode: 'versioned', refresh_interval: '600ms', refresh_batch_size: 3 },
          },
        ],
      },
    });
    clients.json = new SdkClients(gyre.wsUrl, 'json');
    clients.protobuf = new SdkClients(gyre.wsUrl, 'protobuf');
  });

  after(async () => {
    clients.json?.closeAll();
    clients.protobuf?.closeAll();
    await gyre?.stop();
    backend?.closeAllConnections();
    await new Promise((r) => backend?.close(r));
  });

  /** A connected client subscribed to a shared-poll channel, recording its updates and errors. */
  async function pollSub(channel: string, protocol: Protocol = 'json'): Promise<{ sub: SharedPollSubscription; updates: Update[]; errors: any[] }> {
    const c = await clients[protocol].connected();
    const sub = c.newSharedPollSubscription(channel, { getSignature: async (ctx) => ({ keys: ctx.keys, signature: sign(channel, ctx.keys) }) });
    const updates: Update[] = [];
    const errors: any[] = [];
    // The Protobuf build hands over the payload bytes: decode them as the JSON they are.
    const decoded = (d: unknown): unknown => (d instanceof Uint8Array ? (d.length > 0 ? JSON.parse(new TextDecoder().decode(d)) : null) : d);
    sub.on('update', (u) => updates.push({ ...u, data: decoded(u.data) }));
    sub.on('error', (e) => errors.push(e));
    const ready = waitEvent(sub, 'subscribed');
    sub.subscribe();
    await ready;
    return { sub, updates, errors };
  }

  const latest = (updates: Update[], key: string): Update | undefined => updates.filter((u) => u.key === key).at(-1);

  for (const protocol of ['json', 'protobuf'] as const) {
    it(`${protocol}: tracks signed keys, receives each new version, untracks, and sees removals`, async () => {
      const channel = `poll:${uniq(protocol)}`;
      const items = itemsOf(channel);
      items.set('k1', { data: { n: 1 }, version: 1 });
      items.set('k2', { data: { n: 2 }, version: 1 });
      items.set('k3', { data: { n: 3 }, version: 4 });
      const { sub, updates, errors } = await pollSub(channel, protocol);
      sub.track([{ key: 'k1', version: 0 }, { key: 'k2', version: 0 }, { key: 'k3', version: 0 }], sign(channel, ['k1', 'k2', 'k3']));
      await waitFor(() => ['k1', 'k2', 'k3'].every((k) => latest(updates, k)), 'the first version of every key');
      assert.deepEqual(latest(updates, 'k1'), { channel, key: 'k1', data: { n: 1 }, version: 1 });
      assert.deepEqual(latest(updates, 'k3'), { channel, key: 'k3', data: { n: 3 }, version: 4 });
      // The backend is asked on the named proxy, with the server's versions once it has them.
      const onNamed = calls.filter((c) => c.channel === channel);
      assert.ok(onNamed.every((c) => c.path === '/named'));
      await waitFor(() => calls.some((c) => c.channel === channel && c.items.some((i) => i.key === 'k3' && i.version === 4)), 'a timer poll with versions');

      items.set('k1', { data: { n: 10 }, version: 2 });
      await waitFor(() => latest(updates, 'k1')?.version === 2, 'k1 version 2');
      assert.deepEqual(latest(updates, 'k1')?.data, { n: 10 });
      assert.equal(updates.filter((u) => u.key === 'k1').length, 2, 'an unchanged version is not delivered again');

      sub.untrack(['k1']);
      const mark = calls.length;
      // Once a poll without k1 went out, a new k1 version must not reach the client.
      await waitFor(() => calls.slice(mark).some((c) => c.channel === channel && !c.items.some((i) => i.key === 'k1')), 'a poll without the untracked key');
      items.set('k1', { data: { n: 11 }, version: 3 });
      items.set('k2', { data: { n: 20 }, version: 2 });
      await waitFor(() => latest(updates, 'k2')?.version === 2, 'k2 version 2');
      await sleep(700);
      assert.equal(latest(updates, 'k1')?.version, 2, 'no update for an untracked key');
      assert.ok(calls.slice(mark + 1).every((c) => c.channel !== channel || !c.items.some((i) => i.key === 'k1')), 'the backend is no longer asked for k1');

      items.set('k3', { data: null, version: 5, removed: true });
      await waitFor(() => latest(updates, 'k3')?.removed, 'the removal of k3');
      assert.deepEqual(errors, []);
    });
  }

  it('stops polling the keys of a client that unsubscribes or disconnects', async () => {
    for (const leave of ['unsubscribe', 'disconnect'] as const) {
      const channel = `poll:${uniq(leave)}`;
      itemsOf(channel).set('x', { data: { x: 1 }, version: 1 });
      const { sub, updates } = await pollSub(channel);
      sub.track([{ key: 'x', version: 0 }], sign(channel, ['x']));
      await waitFor(() => latest(updates, 'x')?.version === 1, 'the first version');
      await waitFor(() => calls.filter((c) => c.channel === channel).length >= 2, 'a timer poll');
      if (leave === 'unsubscribe') sub.unsubscribe();
      else clients.json.closeAll();
      await sleep(150);
      const mark = calls.length;
      // Three refresh intervals: a key still tracked would be polled in each.
      await sleep(900);
      assert.deepEqual(calls.slice(mark).filter((c) => c.channel === channel), [], `no poll after ${leave}`);
    }
  });

  it('refuses a forged signature with 103 and tracks nothing', async () => {
    const channel = `poll:${uniq('forged')}`;
    itemsOf(channel).set('secret', { data: { hidden: true }, version: 1 });
    const { sub, updates, errors } = await pollSub(channel);
    sub.track([{ key: 'secret', version: 0 }], sign(channel, ['secret'], 'not-the-secret'));
    await waitFor(() => errors.length > 0, 'a track error');
    assert.equal(errors[0].type, 'track');
    assert.equal(errors[0].error.code, 103);
    // A signature for other keys (or another channel) fails the same way.
    sub.track([{ key: 'secret', version: 0 }], sign(`poll:other`, ['secret']));
    await waitFor(() => errors.length > 1, 'a second track error');
    assert.equal(errors[1].error.code, 103);
    await sleep(700);
    // The SDK drops the refused keys locally (removal updates of its own); no data ever arrives.
    assert.deepEqual(updates.filter((u) => !u.removed), []);
    assert.equal(calls.filter((c) => c.channel === channel).length, 0, 'the backend was never asked');
  });

  it('asks the backend once per batch of keys per cycle, whatever the number of clients', async () => {
    const channel = `batch:${uniq('b')}`;
    const keys = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    const items = itemsOf(channel);
    for (const k of keys) items.set(k, { data: { k }, version: 1 });
    const subs = await Promise.all([pollSub(channel), pollSub(channel), pollSub(channel, 'protobuf')]);
    for (const s of subs) s.sub.track(keys.map((key) => ({ key, version: 0 })), sign(channel, keys));
    await waitFor(() => subs.every((s) => keys.every((k) => latest(s.updates, k)?.version === 1)), 'every client has every key', 10_000);
    assert.ok(calls.every((c) => c.channel !== channel || c.path === '/default'), 'the namespace without proxy_name uses channel.proxy.shared_poll_refresh');
    // Timer polls: the sorted keys in chunks of refresh_batch_size, one request per chunk.
    const chunks = [['a0', 'a1', 'a2'], ['a3', 'a4', 'a5'], ['a6']];
    const mark = calls.length;
    // The batches of one cycle go out together, so they may arrive in any order: a cycle is
    // three consecutive calls that are a permutation of the chunks.
    const keysOf = (c: RefreshCall): string => c.items.map((i) => i.key).join(',');
    const cycle = (cs: RefreshCall[]): string[] => cs.map(keysOf).sort();
    const want = chunks.map((c) => c.join(',')).sort();
    const polls = (): RefreshCall[] => {
      const mine = calls.slice(mark).filter((c) => c.channel === channel);
      for (let i = 0; i + 3 <= mine.length; i++) {
        if (JSON.stringify(cycle(mine.slice(i, i + 3))) === JSON.stringify(want)) return mine.slice(i);
      }
      return [];
    };
    await waitFor(() => polls().length >= 9, 'three timer cycles', 10_000);
    const nine = polls().slice(0, 9);
    assert.deepEqual(
      [cycle(nine.slice(0, 3)), cycle(nine.slice(3, 6)), cycle(nine.slice(6, 9))],
      [want, want, want],
      'each cycle asks for each batch exactly once (ceil(7 / 3) = 3 requests), not once per client',
    );
    assert.ok(nine.every((c) => c.items.every((i) => i.version === 1)), 'versioned polls carry the server version');
  });

  it('shared_poll_publish pushes a newer version at once; other namespaces are refused', async () => {
    const channel = `poll:${uniq('pub')}`;
    itemsOf(channel).set('p', { data: { from: 'backend' }, version: 1 });
    const { sub, updates } = await pollSub(channel);
    sub.track([{ key: 'p', version: 0 }], sign(channel, ['p']));
    await waitFor(() => latest(updates, 'p')?.version === 1, 'the first version');
    const ok = await apiCall(gyre.apiUrl, API_KEY, 'shared_poll_publish', { channel, key: 'p', version: 7, data: { from: 'api' } });
    assert.deepEqual(ok.body, { result: {} });
    await waitFor(() => latest(updates, 'p')?.version === 7, 'the published version');
    assert.deepEqual(latest(updates, 'p')?.data, { from: 'api' });
    // The backend still answering version 1 does not go back.
    await sleep(700);
    assert.equal(latest(updates, 'p')?.version, 7);
    const stale = await apiCall(gyre.apiUrl, API_KEY, 'shared_poll_publish', { channel, key: 'p', version: 3, data: { old: true } });
    assert.deepEqual(stale.body, { result: {} });
    await sleep(300);
    assert.equal(latest(updates, 'p')?.version, 7, 'an older version is not delivered');

    const noPublish = await apiCall(gyre.apiUrl, API_KEY, 'shared_poll_publish', { channel: 'batch:x', key: 'p', version: 9, data: {} });
    assert.deepEqual(noPublish.body, { error: { code: 108, message: 'not available' } });
    const stream = await apiCall(gyre.apiUrl, API_KEY, 'shared_poll_publish', { channel: 'plain', key: 'p', version: 9, data: {} });
    assert.deepEqual(stream.body, { error: { code: 107, message: 'bad request' } });
    const noVersion = await apiCall(gyre.apiUrl, API_KEY, 'shared_poll_publish', { channel, key: 'p', data: {} });
    assert.deepEqual(noVersion.body, { error: { code: 107, message: 'bad request' } });
  });
});
