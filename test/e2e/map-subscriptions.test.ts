/**
 * Map subscriptions with the official SDK (`newMapSubscription`) against a real Gyre process,
 * on the memory, the Redis and the PostgreSQL map broker: the initial state synced through several STATE
 * pages, live updates and removals, recovery of missed changes after a reconnect (no new
 * sync), and client map publish / remove with the namespace's permission rules.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { apiResult } from '../helpers/api.js';
import { dropPgPrefix, SHARED_PG_DSN } from '../helpers/pg-server.js';
import { SdkClients } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { hmacToken } from '../helpers/tokens.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const KEY = 'map-subs-key';
const SECRET = 'map-subs-secret';

const namespaces = [
  {
    name: 'board',
    subscription_type: 'map',
    map: { mode: 'persistent', min_page_size: 2, allow_publish_for_subscriber: true, allow_remove_for_subscriber: true },
    allow_subscribe_for_client: true,
  },
  { name: 'readonly', subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '60s' }, allow_subscribe_for_client: true },
];

type MapSub = ReturnType<Centrifuge['newMapSubscription']>;

/** Subscribes a map subscription and resolves with it, its `subscribed` and its first `sync` (if any). */
async function mapSubscribed(client: Centrifuge, channel: string, pageSize?: number): Promise<{ sub: MapSub; ctx: any; sync: Promise<any> }> {
  const sub = client.newMapSubscription(channel, pageSize ? { pageSize } : {});
  sub.on('error', () => undefined);
  const ready = waitEvent(sub, 'subscribed');
  const sync = waitEvent(sub, 'sync');
  sub.subscribe();
  return { sub, ctx: await ready, sync };
}

const entries = (list: any[]): [string, unknown][] => list.map((e) => [e.key, e.data] as [string, unknown]).sort((a, b) => a[0].localeCompare(b[0]));

const pgPrefix = `gyre_mapsubs_${randomBytes(4).toString('hex')}`;

function mapBroker(engine: 'memory' | 'redis' | 'postgres'): object {
  if (engine === 'redis') return { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix: uniq('gyre-map-subs') } };
  if (engine === 'postgres') return { type: 'postgres', postgres: { dsn: SHARED_PG_DSN, table_prefix: pgPrefix, use_notify: true } };
  return { type: 'memory' };
}

for (const engine of ['memory', 'redis', 'postgres'] as const) {
  describe(`map subscriptions with the SDK, ${engine} map broker`, { timeout: 60_000 }, () => {
    let gyre: GyreProcess;
    let sdk: SdkClients;
    const api = (method: string, params: unknown) => apiResult(gyre.apiUrl, KEY, method, params);
    const client = async (user: string) => sdk.connected({ token: await hmacToken(SECRET, { sub: user }) });

    before(async () => {
      gyre = await startGyre({
        log: { level: 'warn' },
        http_api: { key: KEY },
        client: { token: { hmac_secret_key: SECRET } },
        channel: { namespaces },
        map_broker: mapBroker(engine),
      });
      assert.ok(!gyre.output().includes('subscription_type: not supported'), gyre.output());
      sdk = new SdkClients(gyre.wsUrl, 'json');
    });
    after(async () => {
      sdk?.closeAll();
      await gyre?.stop();
      if (engine === 'postgres') await dropPgPrefix(SHARED_PG_DSN, pgPrefix);
    });

    it('syncs the initial state over several pages, then receives live updates and removals', async () => {
      const channel = `board:${uniq()}`;
      for (const k of ['a', 'b', 'c', 'd', 'e']) await api('map_publish', { channel, key: k, data: { v: k } });
      const c = await client('u1');
      const { sub, ctx, sync } = await mapSubscribed(c, channel, 2);
      assert.equal(ctx.recoverable, true);
      const synced = await sync;
      assert.deepEqual(entries(synced.entries), ['a', 'b', 'c', 'd', 'e'].map((k) => [k, { v: k }]));
      const updates = collect(sub, 'update');
      await api('map_publish', { channel, key: 'f', data: { v: 'f' } });
      await api('map_remove', { channel, key: 'a' });
      await waitFor(() => updates.length >= 2, 'two live updates');
      assert.deepEqual([updates[0].key, updates[0].data, !!updates[0].removed], ['f', { v: 'f' }, false]);
      assert.deepEqual([updates[1].key, !!updates[1].removed], ['a', true]);
    });

    it('recovers the changes missed while disconnected, without a new sync', async () => {
      const channel = `board:${uniq()}`;
      await api('map_publish', { channel, key: 'x', data: 1 });
      const c = await client('u2');
      const { sub, sync } = await mapSubscribed(c, channel);
      await sync;
      const syncs = collect(sub, 'sync');
      const updates = collect(sub, 'update');
      c.disconnect();
      await api('map_publish', { channel, key: 'x', data: 2 });
      await api('map_publish', { channel, key: 'y', data: 3 });
      const again = waitEvent(sub, 'subscribed');
      c.connect();
      const ctx = await again;
      assert.equal(ctx.recovered, true);
      await waitFor(() => updates.length >= 2, 'missed changes as updates');
      assert.deepEqual(updates.map((u) => [u.key, u.data]), [['x', 2], ['y', 3]]);
      assert.equal(syncs.length, 0, 'a recovered subscription does not sync again');
    });

    it('lets subscribers publish and remove keys; other namespaces refuse client writes', async () => {
      const channel = `board:${uniq()}`;
      const writer = await client('u3');
      const reader = await client('u4');
      await assert.rejects(writer.mapPublish(channel, 'k', { n: 1 }), (e: any) => e.code === 103, 'not subscribed yet');
      const w = await mapSubscribed(writer, channel);
      const r = await mapSubscribed(reader, channel);
      const seen = collect(r.sub, 'update');
      await w.sub.publish('k', { n: 2 });
      await waitFor(() => seen.length >= 1, 'the reader sees the write');
      assert.deepEqual([seen[0].key, seen[0].data, seen[0].info?.user], ['k', { n: 2 }, 'u3']);
      await w.sub.remove('k');
      await waitFor(() => seen.length >= 2, 'the reader sees the removal');
      assert.equal(seen[1].removed, true);
      await assert.rejects(w.sub.publish('k'.repeat(1025), { n: 9 }), (e: any) => e.code === 107, 'a key over 1024 bytes');
      const ro = `readonly:${uniq()}`;
      await mapSubscribed(writer, ro);
      await assert.rejects(writer.mapPublish(ro, 'k', { n: 3 }), (e: any) => e.code === 103, 'no publish rule in this namespace');
    });
  });
}
