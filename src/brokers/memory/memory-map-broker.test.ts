import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MapChannelOptions } from '../../core/index.js';
import { MemoryMapBroker } from './memory-map-broker.js';
import { MemoryMapChannel, compareKeys } from './memory-map-channel.js';

const REC: MapChannelOptions = { mode: 'recoverable', keyTtlMs: 1000, streamSize: 10, streamTtlMs: 1000, metaTtlMs: 10_000 };
const data = new TextEncoder().encode('x');

function clockAt(start: number): { now: () => number; t: number } {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('MemoryMapBroker bounds (injected clock)', () => {
  it('orders keys by UTF-8 bytes', () => {
    const keys = ['😀', '\uffff', 'é', 'a', 'ab', ''];
    assert.deepEqual([...keys].sort(compareKeys), [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('the expiry heap stays bounded however often one key is refreshed', () => {
    const ch = new MemoryMapChannel('ep', REC);
    ch.set('k', { pub: { key: 'k', data, offset: 0, time: 0 }, expiresAt: 1, version: 0, versionEpoch: '' });
    for (let i = 2; i < 10_000; i++) ch.refresh('k', i);
    assert.ok(ch.pendingExpiries <= 2 * 1 + 64 + 1, `heap ${ch.pendingExpiries}`);
    assert.equal(ch.popDue(9_998), undefined, 'stale deadlines never fire');
    assert.equal(ch.popDue(9_999), 'k');
  });

  it('the sweep frees expired keys, idle channels and idempotency results', async () => {
    const clock = clockAt(1_000_000);
    const b = new MemoryMapBroker({ clock, sweepIntervalMs: 0 });
    await b.run({ handleMapPublication: () => {} });
    for (let i = 0; i < 50; i++) await b.publish(`c${i}`, 'k', { channel: REC, data, idempotencyKey: `i${i}`, idempotentResultTtlMs: 500 });
    assert.equal(b.channelCount, 50);
    clock.t += 600;
    b.sweep();
    const repeat = await b.publish('c0', 'k', { channel: REC, data, idempotencyKey: 'i0' });
    assert.equal(repeat.suppressed, false, 'the idempotency result expired');
    clock.t += 1000;
    b.sweep();
    assert.equal((await b.stats('c1')).numKeys, 0, 'key ttl applied');
    clock.t += 10_000;
    b.sweep();
    assert.equal(b.channelCount, 0, 'meta_ttl dropped idle channels');
    await b.close();
  });
});
