/**
 * Delta compression (subscriptions.md §3) against a real Gyre process, memory and Redis
 * engines: the official SDK (JSON and Protobuf builds) subscribes with `delta: 'fossil'` and
 * decodes a series of publications and recovered ones; its deltaStats show which arrived as
 * patches. Covers namespace `delta_publish`, the API `delta` flag, a namespace without
 * `allowed_delta_types` (plain publications), and non-ASCII payloads whose patch would split
 * a UTF-8 character (sent full on JSON).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const KEY = 'delta-key';
const HISTORY = { history_size: 50, history_ttl: '300s', force_recovery: true };

/** A publication's data as an object: JSON already parsed (JSON SDK) or JSON bytes (Protobuf SDK). */
const dataOf = (p: { data: unknown }): any => (p.data instanceof Uint8Array ? JSON.parse(Buffer.from(p.data).toString('utf8')) : p.data);

const big = (n: number, text = 'x'.repeat(400)): Record<string, unknown> => ({ n, text });

for (const engine of ['memory', 'redis'] as const) {
  describe(`delta compression (${engine} engine)`, { timeout: 90_000 }, () => {
    let gyre: GyreProcess;
    const publish = (channel: string, data: unknown, extra: Record<string, unknown> = {}): Promise<any> =>
      apiResult(gyre.apiUrl, KEY, 'publish', { channel, data, ...extra });

    before(async () => {
      gyre = await startGyre({
        log: { level: 'warn' },
        client: { insecure: true },
        http_api: { key: KEY },
        ...(engine === 'redis' ? { engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix: `gyre-delta-${uniq()}` } } } : {}),
        channel: {
          namespaces: [
            { name: 'dp', allowed_delta_types: ['fossil'], delta_publish: true, ...HISTORY },
            { name: 'flag', allowed_delta_types: ['fossil'], ...HISTORY },
            { name: 'nodelta', delta_publish: true, ...HISTORY },
          ],
        },
      });
      assert.ok(!gyre.output().includes('allowed_delta_types'), gyre.output());
    });
    after(async () => {
      await gyre?.stop();
    });

    for (const protocol of ['json', 'protobuf'] as const) {
      it(`${protocol} SDK: live publications as patches after the first, recovery full then patches, live patches after recovery`, async () => {
        const sdk = new SdkClients(gyre.wsUrl, protocol);
        try {
          const channel = `dp:${uniq()}`;
          const client = await sdk.connected();
          const { sub } = await subscribed(client, channel, { delta: 'fossil' } as any);
          const pubs = collect<any>(sub, 'publication');
          const sent: unknown[] = [big(1), big(2), big(3), { n: 4, text: 'y'.repeat(200) + 'é' + 'z'.repeat(200) }, { n: 4, text: 'y'.repeat(200) + 'ê' + 'z'.repeat(200) }];
          for (const d of sent) await publish(channel, d);
          await waitFor(() => pubs.length === sent.length, 'live publications');
          assert.deepEqual(pubs.map(dataOf), sent);
          let stats = sub.deltaStats();
          // 1 full, 2 patches; the fourth shares nothing with the third (a patch would not be
          // smaller): full; the é → ê change makes a patch that splits a UTF-8 character: full
          // on JSON only.
          assert.deepEqual([stats.numFullPayloads, stats.numDeltaPayloads], protocol === 'json' ? [3, 2] : [2, 3], JSON.stringify(stats));
          assert.ok(stats.bytesReceived < stats.bytesDecoded, JSON.stringify(stats));

          // Offline: three publications; back online they are recovered and decoded.
          const gone = waitEvent(client, 'disconnected');
          client.disconnect();
          await gone;
          const missed = [big(5), big(6), big(7)];
          for (const d of missed) await publish(channel, d);
          const back = waitEvent(sub, 'subscribed');
          client.connect();
          const ctx: any = await back;
          assert.equal(ctx.recovered, true, JSON.stringify(ctx));
          await waitFor(() => pubs.length === sent.length + missed.length, 'recovered publications');
          assert.deepEqual(pubs.slice(sent.length).map(dataOf), missed);
          const beforeLive = sub.deltaStats();
          assert.equal(beforeLive.numFullPayloads - stats.numFullPayloads, 1, 'the first recovered publication is full');
          assert.equal(beforeLive.numDeltaPayloads - stats.numDeltaPayloads, 2, 'the others are patches');

          // Live after recovery: a patch against the last recovered publication.
          await publish(channel, big(8));
          await waitFor(() => pubs.length === sent.length + missed.length + 1, 'live after recovery');
          assert.deepEqual(dataOf(pubs.at(-1)), big(8));
          stats = sub.deltaStats();
          assert.equal(stats.numDeltaPayloads - beforeLive.numDeltaPayloads, 1, JSON.stringify(stats));

          // Unsubscribe and subscribe again with nothing missed: the client keeps its base, so
          // the next live publication is a patch at once.
          sub.unsubscribe();
          const again = waitEvent(sub, 'subscribed');
          sub.subscribe();
          const ctx2: any = await again;
          assert.equal(ctx2.recovered, true);
          await publish(channel, big(9));
          await waitFor(() => pubs.length === sent.length + missed.length + 2, 'live after resubscribe');
          assert.deepEqual(dataOf(pubs.at(-1)), big(9));
          assert.equal(sub.deltaStats().numDeltaPayloads - stats.numDeltaPayloads, 1);
        } finally {
          sdk.closeAll();
        }
      });

      it(`${protocol} SDK: the API delta flag decides per publication where delta_publish is off`, async () => {
        const sdk = new SdkClients(gyre.wsUrl, protocol);
        try {
          const channel = `flag:${uniq()}`;
          const client = await sdk.connected();
          const { sub } = await subscribed(client, channel, { delta: 'fossil' } as any);
          const pubs = collect<any>(sub, 'publication');
          await publish(channel, big(1), { delta: true });
          await publish(channel, big(2));
          await publish(channel, big(3), { delta: true });
          await publish(channel, big(4), { delta: true });
          await waitFor(() => pubs.length === 4, 'publications');
          assert.deepEqual(pubs.map(dataOf), [big(1), big(2), big(3), big(4)]);
          const stats = sub.deltaStats();
          assert.deepEqual([stats.numFullPayloads, stats.numDeltaPayloads], [2, 2], JSON.stringify(stats));
        } finally {
          sdk.closeAll();
        }
      });

      it(`${protocol} SDK: a namespace without allowed_delta_types sends plain publications`, async () => {
        const sdk = new SdkClients(gyre.wsUrl, protocol);
        try {
          const channel = `nodelta:${uniq()}`;
          const client = await sdk.connected();
          const { sub } = await subscribed(client, channel, { delta: 'fossil' } as any);
          const pubs = collect<any>(sub, 'publication');
          await publish(channel, big(1));
          await publish(channel, big(2));
          await waitFor(() => pubs.length === 2, 'publications');
          assert.deepEqual(pubs.map(dataOf), [big(1), big(2)]);
          assert.equal(sub.deltaStats().numPublications, 0, 'delta not negotiated');
        } finally {
          sdk.closeAll();
        }
      });
    }
  });
}
