/**
 * `auto_cache_recover` (a namespace with force_recovery in cache mode): every subscribe, with
 * or without a position, and server-side subscriptions of unidirectional clients get the
 * newest publication, as if the client had asked to recover from an empty position.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { StreamClient } from '../helpers/streams.js';
import { hmacToken } from '../helpers/tokens.js';
import { uniq } from '../helpers/wait.js';

const KEY = 'auto-cache-key';
const SECRET = 'auto-cache-secret-0123456789abcdef0123';

describe('auto_cache_recover', { timeout: 30_000 }, () => {
  let gyre: GyreProcess;
  const publish = (channel: string, n: number): Promise<any> => apiResult(gyre.apiUrl, KEY, 'publish', { channel, data: { n } });

  before(async () => {
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { token: { hmac_secret_key: SECRET }, allow_anonymous_connect_without_token: true },
      http_api: { key: KEY },
      uni_sse: { enabled: true },
      channel: {
        namespaces: [
          { name: 'state', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, history_size: 10, history_ttl: '60s', force_recovery: true, force_recovery_mode: 'cache', auto_cache_recover: true },
          { name: 'cache', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, history_size: 10, history_ttl: '60s', force_recovery: true, force_recovery_mode: 'cache' },
        ],
      },
    });
  });
  after(async () => {
    await gyre?.stop();
  });

  it('delivers the newest publication on every subscribe, even one that names its own position', async () => {
    const channel = `state:${uniq()}`;
    await publish(channel, 1);
    const last = await publish(channel, 2);
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      await raw.connect({});
      const first = await raw.call({ subscribe: { channel } });
      assert.equal(first.subscribe.was_recovering, true, JSON.stringify(first));
      assert.equal(first.subscribe.recovered, true);
      assert.deepEqual(first.subscribe.publications.map((p: any) => p.data), [{ n: 2 }]);
      await raw.call({ unsubscribe: { channel } });
      const again = await raw.call({ subscribe: { channel, recover: true, offset: last.offset, epoch: last.epoch } });
      assert.deepEqual(again.subscribe.publications.map((p: any) => p.data), [{ n: 2 }], 'the newest one even when the client is up to date');

      // Without the option a plain subscribe recovers nothing.
      const plain = `cache:${uniq()}`;
      await publish(plain, 1);
      const r = await raw.call({ subscribe: { channel: plain } });
      assert.equal(r.subscribe.publications, undefined, JSON.stringify(r));
      assert.equal(r.subscribe.was_recovering, undefined);
    } finally {
      await raw.close();
    }
  });

  it('applies to server-side subscriptions of unidirectional clients', async () => {
    const channel = `state:${uniq()}`;
    await publish(channel, 7);
    const token = await hmacToken(SECRET, { sub: uniq('u'), channels: [channel] });
    const s = await StreamClient.open(`${gyre.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`, {}, 'sse');
    try {
      const c = await s.message((m) => m.connect, 'connect push');
      const sub = c.connect.subs[channel];
      assert.equal(sub.was_recovering, true, JSON.stringify(c));
      assert.deepEqual(sub.publications.map((p: any) => p.data), [{ n: 7 }]);
    } finally {
      await s.close();
    }
  });
});
