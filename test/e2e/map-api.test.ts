/**
 * The server API's map methods (map_publish, map_remove, map_read_state, map_read_stream,
 * map_stats, map_clear) against a real Gyre process, over HTTP on the memory and the Redis
 * map broker, and over GRPC: writes and their suppression reasons, state pages with cursors,
 * the change stream with removals, positions from another epoch (112), and the documented
 * errors for bad input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { apiCall, apiResult } from '../helpers/api.js';
import { apiClient, unary } from '../helpers/grpc.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { uniq } from '../helpers/wait.js';

const KEY = 'map-api-key';

const namespaces = [
  { name: 'rooms', subscription_type: 'map', map: { mode: 'recoverable', key_ttl: '60s', stream_size: 100, stream_ttl: '60s' } },
  { name: 'cursors', subscription_type: 'map', map: { mode: 'ephemeral', key_ttl: '60s' } },
  { name: 'news', history_size: 10, history_ttl: '60s' },
];

for (const engine of ['memory', 'redis'] as const) {
  describe(`map API over HTTP, ${engine} map broker`, { timeout: 60_000 }, () => {
    let gyre: GyreProcess;
    const call = (method: string, params: unknown) => apiCall(gyre.apiUrl, KEY, method, params);
    const result = (method: string, params: unknown) => apiResult(gyre.apiUrl, KEY, method, params);

    before(async () => {
      gyre = await startGyre({
        log: { level: 'warn' },
        http_api: { key: KEY },
        channel: { namespaces },
        map_broker: engine === 'redis' ? { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix: uniq('gyre-map-api') } } : { type: 'memory' },
      });
      // Neither the map namespaces nor the map broker warn as not supported.
      assert.ok(!gyre.output().includes('map_broker'), gyre.output());
    });
    after(async () => {
      await gyre?.stop();
    });

    it('publishes, suppresses by key mode and idempotency, removes, and streams every change', async () => {
      const channel = `rooms:${uniq()}`;
      const first = await result('map_publish', { channel, key: 'alice', data: { x: 1 }, tags: { team: 'red' } });
      assert.equal(first.offset, 1);
      assert.equal(typeof first.epoch, 'string');
      assert.equal(first.suppressed, undefined);

      const again = await result('map_publish', { channel, key: 'alice', data: { x: 2 }, key_mode: 'if_new' });
      assert.deepEqual([again.suppressed, again.suppress_reason], [true, 'key_exists']);
      const absent = await result('map_publish', { channel, key: 'bob', data: { x: 3 }, key_mode: 'if_exists' });
      assert.deepEqual([absent.suppressed, absent.suppress_reason], [true, 'key_not_found']);

      const idem1 = await result('map_publish', { channel, key: 'bob', data: { x: 4 }, idempotency_key: 'k1' });
      const idem2 = await result('map_publish', { channel, key: 'bob', data: { x: 5 }, idempotency_key: 'k1' });
      assert.equal(idem2.offset, idem1.offset, 'a repeat returns the first write\'s position');
      assert.deepEqual([idem2.suppressed, idem2.suppress_reason], [true, 'idempotency']);

      const removed = await result('map_remove', { channel, key: 'alice' });
      assert.equal(removed.offset, idem1.offset + 1);
      const missing = await result('map_remove', { channel, key: 'nobody' });
      assert.deepEqual([missing.suppressed, missing.suppress_reason], [true, 'key_not_found']);

      const state = await result('map_read_state', { channel });
      assert.deepEqual(
        state.entries.map((e: any) => [e.key, e.data]),
        [['bob', { x: 4 }]],
      );
      assert.equal(state.offset, removed.offset);
      assert.equal(state.epoch, first.epoch);

      const stream = await result('map_read_stream', { channel, since_offset: 0, since_epoch: first.epoch, limit: 10 });
      assert.deepEqual(
        stream.entries.map((e: any) => [e.key, e.offset, !!e.removed]),
        [
          ['alice', 1, false],
          ['bob', idem1.offset, false],
          ['alice', removed.offset, true],
        ],
      );
      assert.deepEqual(stream.entries[0].tags, { team: 'red' });
      assert.equal(typeof stream.entries[0].time, 'number');

      assert.deepEqual(await result('map_stats', { channel }), { num_keys: 1 });
      assert.deepEqual(await result('map_clear', { channel }), {});
      assert.deepEqual(await result('map_stats', { channel }), { num_keys: 0 });
      const fresh = await result('map_publish', { channel, key: 'carol', data: { x: 6 } });
      assert.notEqual(fresh.epoch, first.epoch, 'a cleared map starts a new epoch');
    });

    it('pages the state with cursors and refuses positions from another epoch with 112', async () => {
      const channel = `rooms:${uniq()}`;
      const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
      for (const key of keys) await result('map_publish', { channel, key, data: { key } });
      const seen: string[] = [];
      let cursor = '';
      let revision: { offset: number; epoch: string } | undefined;
      do {
        const page = await result('map_read_state', {
          channel,
          limit: 2,
          cursor,
          ...(revision ? { revision_offset: revision.offset, revision_epoch: revision.epoch } : {}),
        });
        revision ??= { offset: page.offset, epoch: page.epoch };
        seen.push(...page.entries.map((e: any) => e.key));
        assert.ok(page.entries.length <= 2);
        cursor = page.cursor ?? '';
      } while (cursor !== '');
      assert.deepEqual(seen, keys);

      const single = await result('map_read_state', { channel, key: 'k3' });
      assert.deepEqual(single.entries.map((e: any) => e.key), ['k3']);

      const wrongState = await call('map_read_state', { channel, revision_offset: 1, revision_epoch: 'not-this-epoch' });
      assert.equal(wrongState.body.error?.code, 112, wrongState.text);
      const wrongStream = await call('map_read_stream', { channel, since_offset: 1, since_epoch: 'not-this-epoch', limit: 10 });
      assert.equal(wrongStream.body.error?.code, 112, wrongStream.text);
    });

    it('answers the documented errors: 107 for missing channel or key, keys over 1024 bytes, bad key_mode and non-map namespaces; 102 for unknown namespaces', async () => {
      const channel = `rooms:${uniq()}`;
      for (const [method, params, code] of [
        ['map_publish', { key: 'a', data: {} }, 107],
        ['map_publish', { channel, data: {} }, 107],
        ['map_publish', { channel, key: 'a', data: {}, key_mode: 'sometimes' }, 107],
        ['map_publish', { channel: 'news:x', key: 'a', data: {} }, 107],
        ['map_read_state', { channel: 'news:x' }, 107],
        ['map_publish', { channel: 'nowhere:x', key: 'a', data: {} }, 102],
        ['map_remove', { channel, key: '' }, 107],
        ['map_publish', { channel, key: 'k'.repeat(1025), data: {} }, 107],
        ['map_remove', { channel, key: 'k'.repeat(1025) }, 107],
        ['map_stats', { channel: '' }, 107],
        ['map_clear', { channel: 'nowhere:x' }, 102],
      ] as const) {
        const r = await call(method, params);
        assert.equal(r.body?.error?.code, code, `${method} ${JSON.stringify(params)}: ${r.text}`);
      }
      const ephemeral = `cursors:${uniq()}`;
      const w = await result('map_publish', { channel: ephemeral, key: 'u1', data: { x: 1, y: 2 } });
      assert.equal(w.offset, 0, 'ephemeral maps keep no stream');
      const s = await result('map_read_state', { channel: ephemeral });
      assert.deepEqual(s.entries.map((e: any) => e.data), [{ x: 1, y: 2 }]);
      // A batch answers `{"replies": [...]}` itself, with no result envelope.
      const batch = await call('batch', {
        commands: [{ map_publish: { channel: ephemeral, key: 'u2', data: { x: 3 } } }, { map_stats: { channel: ephemeral } }],
      });
      assert.deepEqual(batch.body.replies[1], { map_stats: { num_keys: 2 } }, batch.text);
    });
  });
}

describe('map API over GRPC', { timeout: 60_000 }, () => {
  let gyre: GyreProcess;
  let client: grpc.Client & Record<string, any>;

  before(async () => {
    const port = await freePort();
    gyre = await startGyre({ log: { level: 'warn' }, channel: { namespaces }, grpc_api: { enabled: true, address: '127.0.0.1', port } });
    client = apiClient(port);
  });
  after(async () => {
    client?.close();
    await gyre?.stop();
  });

  it('serves MapPublish, MapReadState, MapReadStream and MapStats with bytes payloads', async () => {
    const channel = `rooms:${uniq()}`;
    const pub = await unary(client, 'MapPublish', { channel, key: 'a', data: Buffer.from('{"v":1}') });
    assert.ifError(pub.err);
    assert.equal(pub.res.result.offset, 1);
    const state = await unary(client, 'MapReadState', { channel });
    assert.ifError(state.err);
    assert.equal(state.res.result.entries[0].key, 'a');
    assert.equal(Buffer.from(state.res.result.entries[0].data).toString(), '{"v":1}');
    const stream = await unary(client, 'MapReadStream', { channel, since_offset: 0, since_epoch: pub.res.result.epoch, limit: 5 });
    assert.ifError(stream.err);
    assert.equal(stream.res.result.entries.length, 1);
    const stats = await unary(client, 'MapStats', { channel });
    assert.equal(stats.res.result.num_keys, 1);
    const bad = await unary(client, 'MapPublish', { channel: 'news:x', key: 'a', data: Buffer.from('{}') });
    assert.equal(bad.res.error.code, 107);
  });
});
