/**
 * Publication tags filters (subscriptions.md §4) against a real Gyre process: the official SDK
 * (JSON and Protobuf builds) subscribes with a `tagsFilter` and receives only matching live
 * publications and only matching recovered ones; raw clients check the documented 107 for a
 * namespace without `allow_tags_filter` and for invalid filters, and that positions still
 * advance past filtered publications (no false insufficient state).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiResult } from '../helpers/api.js';
import { RawClient } from '../helpers/raw-ws.js';
import { SdkClients, subscribed } from '../helpers/sdk.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { collect, sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const KEY = 'tags-filter-key';
const BTC = { key: 'ticker', cmp: 'eq', val: 'BTC' };

/** The `n` of a publication's data: JSON already parsed (JSON SDK) or JSON bytes (Protobuf SDK). */
const nOf = (p: { data: unknown }): number => (p.data instanceof Uint8Array ? JSON.parse(Buffer.from(p.data).toString('utf8')) : (p.data as any)).n;

describe('tags filters', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  const publish = (channel: string, n: number, ticker: string): Promise<any> =>
    apiResult(gyre.apiUrl, KEY, 'publish', { channel, data: { n }, tags: { ticker } });

  before(async () => {
    gyre = await startGyre({
      log: { level: 'warn' },
      client: { insecure: true },
      http_api: { key: KEY },
      channel: {
        namespaces: [
          { name: 'quotes', allow_tags_filter: true, history_size: 50, history_ttl: '300s', force_recovery: true },
          { name: 'cache', allow_tags_filter: true, history_size: 50, history_ttl: '300s', force_recovery: true, force_recovery_mode: 'cache' },
          { name: 'plain', history_size: 10, history_ttl: '60s' },
        ],
      },
    });
    assert.ok(!gyre.output().includes('allow_tags_filter'), gyre.output());
  });
  after(async () => {
    await gyre?.stop();
  });

  for (const protocol of ['json', 'protobuf'] as const) {
    it(`${protocol} SDK: live and recovered publications are filtered, positions stay continuous`, async () => {
      const sdk = new SdkClients(gyre.wsUrl, protocol);
      try {
        const channel = `quotes:${uniq()}`;
        const client = await sdk.connected();
        const { sub } = await subscribed(client, channel, { tagsFilter: BTC } as any);
        const pubs = collect<any>(sub, 'publication');
        await publish(channel, 1, 'BTC');
        await publish(channel, 2, 'ETH');
        await publish(channel, 3, 'BTC');
        await waitFor(() => pubs.length === 2, 'two BTC publications');
        await sleep(100);
        assert.deepEqual(
          pubs.map(nOf),
          [1, 3],
        );
        assert.equal(pubs[1].offset, 3, 'offsets are the stream\'s own');

        // Offline: ETH, BTC, ETH; back online the SDK recovers and gets only the BTC one.
        const gone = waitEvent(client, 'disconnected');
        client.disconnect();
        await gone;
        await publish(channel, 4, 'ETH');
        await publish(channel, 5, 'BTC');
        await publish(channel, 6, 'ETH');
        const back = waitEvent(sub, 'subscribed');
        client.connect();
        const ctx: any = await back;
        assert.equal(ctx.recovered, true, JSON.stringify(ctx));
        await waitFor(() => pubs.length === 3, 'the recovered BTC publication');
        assert.equal(nOf(pubs[2]), 5);

        // Live again after recovery: a filtered publication does not break continuity.
        await publish(channel, 7, 'ETH');
        await publish(channel, 8, 'BTC');
        await waitFor(() => pubs.length === 4, 'live BTC after recovery');
        assert.equal(nOf(pubs[3]), 8);
        assert.equal(sub.state, 'subscribed');
      } finally {
        sdk.closeAll();
      }
    });
  }

  it('cache recovery delivers the newest publication that passes the filter', async () => {
    const channel = `cache:${uniq()}`;
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      await raw.connect({});
      await publish(channel, 1, 'BTC');
      const first = await raw.call({ subscribe: { channel, recoverable: true, tf: BTC } });
      const epoch = first.subscribe.epoch;
      await publish(channel, 2, 'BTC');
      await publish(channel, 3, 'ETH');
      await publish(channel, 4, 'ETH');
      await raw.call({ unsubscribe: { channel } });
      const again = await raw.call({ subscribe: { channel, recoverable: true, recover: true, offset: 1, epoch, tf: BTC } });
      assert.equal(again.subscribe.recovered, true, JSON.stringify(again));
      assert.deepEqual(
        again.subscribe.publications.map((p: any) => p.data.n),
        [2],
        'the newest BTC publication, not the newest one',
      );
    } finally {
      await raw.close();
    }
  });

  it('answers 107 without allow_tags_filter and for invalid filters', async () => {
    const raw = await RawClient.open(gyre.wsUrl);
    try {
      await raw.connect({});
      const off = await raw.call({ subscribe: { channel: 'plain:x', tf: BTC } });
      assert.equal(off.error?.code, 107, JSON.stringify(off));
      for (const tf of [
        { key: 'a', cmp: 'eq' },
        { key: 'a', cmp: 'in', val: 'x' },
        { op: 'not', nodes: [] },
        { op: 'xor', nodes: [BTC] },
        { cmp: 'eq', val: 'x' },
        { key: 'a', cmp: 'like', val: 'x' },
      ]) {
        const r = await raw.call({ subscribe: { channel: `quotes:${uniq()}`, tf } });
        assert.equal(r.error?.code, 107, `${JSON.stringify(tf)}: ${JSON.stringify(r)}`);
      }
      const ok = await raw.call({ subscribe: { channel: `quotes:${uniq()}`, tf: { op: 'and', nodes: [BTC, { key: 'price', cmp: 'gt', val: '50000' }] } } });
      assert.ok(ok.subscribe, JSON.stringify(ok));
    } finally {
      await raw.close();
    }
  });
});
